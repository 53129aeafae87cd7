"""The Discord shards this process runs, and so the guilds it owns.

Discord sends a guild's events (interactions, messages, threads, button
clicks) to one shard only, shard ``(guild_id >> 22) % shard_count``, and
DMs to shard 0. A process that runs a guild's shard is the only one that
hears from that guild, so its runs start there, and their cancel,
follow-ups and progress edits stay in that process. The store needs the
same answer for the runs a gone process left (``bot/store/recovery.py``
``served``): a process takes up only the runs of guilds it owns.

No Discord import here: the store and the settings use it too.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where DMs (and rows without a guild, stored as guild id '') go.
DM_SHARD = 0


def shard_of(guild_id: int | str | None, shard_count: int) -> int:
    """The shard Discord routes ``guild_id`` to. DMs (None or '') go to
    shard 0, and so does anything that is not a Discord id (the console's
    runs are stored under guild 'console'), as the store's ``served`` has it."""
    if guild_id is None or not str(guild_id).isdigit():
        return DM_SHARD
    return (int(guild_id) >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class Shards:
    """``count`` shards in all, of which this process runs ``ids``.

    ``count`` None: as many as Discord's ``GET /gateway/bot`` recommends,
    all run here. ``ids`` None: every shard, 0 to count - 1. Either way the
    process owns every guild (``everything``).
    """

    count: int | None = None
    ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.ids is not None and self.count is None:
            raise ValueError("SHARD_IDS: set SHARD_COUNT too, the total number of shards of the bot")
        if self.count is not None and self.count < 1:
            raise ValueError(f"SHARD_COUNT: must be at least 1, not {self.count}")
        if self.ids is not None and self.count is not None:
            if not self.ids:
                raise ValueError("SHARD_IDS: names no shard (give e.g. 0-3 or 0,2)")
            if wrong := [i for i in self.ids if not 0 <= i < self.count]:
                raise ValueError(
                    f"SHARD_IDS: shard {wrong[0]} does not exist with SHARD_COUNT={self.count}"
                    f" (ids run from 0 to {self.count - 1})"
                )

    @property
    def everything(self) -> bool:
        """True when this process runs every shard: it owns every guild and DM."""
        return self.ids is None or self.count is None or set(self.ids) == set(range(self.count))

    def owns(self, guild_id: int | str | None) -> bool:
        """Whether Discord sends ``guild_id``'s events (None or '': DMs) to this process."""
        if self.everything:
            return True
        assert self.count is not None and self.ids is not None
        return shard_of(guild_id, self.count) in self.ids


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """``0-3``, ``0,2`` or ``0-1,4``: ids in ascending order, each once.
    ValueError that names SHARD_IDS for anything else."""
    ids: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, dash, high = part.partition("-")
        if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
            raise ValueError(f"SHARD_IDS: {part!r} is not a shard id or a range like 0-3 (give e.g. 0-3 or 0,2)")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"SHARD_IDS: the range {part!r} runs backwards (write {last}-{first})")
        ids.update(range(first, last + 1))
    if not ids:
        raise ValueError("SHARD_IDS: names no shard (give e.g. 0-3 or 0,2)")
    return tuple(sorted(ids))
