"""What members read about their memories: /memory show and /memory forget."""

from __future__ import annotations

from collections.abc import Sequence

from bot.splitting import fit, split_message
from bot.store import Memory

#: Characters of one memory /memory show prints, and messages it sends at most.
SHOWN_CHARS = 300
MAX_PARTS = 4

NO_MEMORIES = (
    "Agents remember nothing about you here. An agent with memory keeps what you ask it to remember,"
    " for you alone."
)
FORGET_WHAT = "Name the memory to forget (its number, from /memory show), or set `everything` to forget them all."


def memory_list(memories: Sequence[Memory], where: str) -> list[str]:
    """The member's memories, newest first, in messages that fit Discord
    (at most MAX_PARTS; a note says how many were left out)."""
    if not memories:
        return [NO_MEMORIES]
    lines = [f"**What agents remember about you {where}** (newest first; `/memory forget` removes one):"]
    lines += [f"`#{m.id}` {m.created_at:%Y-%m-%d}: {fit(' '.join(m.content.split()), SHOWN_CHARS)}" for m in memories]
    parts = split_message("\n".join(lines))
    if len(parts) <= MAX_PARTS:
        return parts
    shown = parts[:MAX_PARTS]
    left = sum(1 for m in memories if f"`#{m.id}`" not in "".join(shown))
    return [*shown, f"… and {left} older memories not shown."]


def forgotten(count: int, memory_id: int | None) -> str:
    if memory_id is not None:
        return f"Forgot memory #{memory_id}." if count else f"You have no memory #{memory_id} here."
    return f"Forgot all {count} of your memories here." if count else NO_MEMORIES


def memory_place(in_dms: bool) -> str:
    return "in DMs" if in_dms else "in this server"
