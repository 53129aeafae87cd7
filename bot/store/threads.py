"""The registry of agent threads: which Discord threads an agent answers in,
who started each, whether admins opened it to everyone, and the newest
message the bot handled there (to catch up on what was posted while it was
down). Messages are claimed one by one, so that of several processes
sharing a bot token exactly one answers each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store.clock import Clock, to_db
from bot.store.database import Database, Tx
from bot.store.writer import Writer

#: How long a claim on a message is kept. It matters only while the same
#: message can still arrive twice: live in two processes at once, or live
#: and through a start-up catch-up that read the thread before the claim.
CLAIMS_KEPT = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class AgentThread:
    thread_id: str
    guild_id: str
    channel_id: str
    agent_id: str
    starter_id: str
    open_to_all: bool = False
    #: Snowflake of the newest message handled here; 0 before the first.
    last_message_id: int = 0


class AgentThreads:
    def __init__(self, writer: Writer, reader: Database, serial: Database, clock: Clock) -> None:
        self._writer = writer
        self._reader = reader
        self._serial = serial
        self._clock = clock

    async def set(self, thread: AgentThread) -> None:
        """Register a thread, or replace its registration (keeping when it was first registered)."""
        await self._writer.write(
            (
                "INSERT INTO agent_threads (thread_id, guild_id, channel_id, agent_id, starter_id, open_to_all,"
                " created_at, active_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET"
                " guild_id = excluded.guild_id, channel_id = excluded.channel_id, agent_id = excluded.agent_id,"
                " starter_id = excluded.starter_id, open_to_all = excluded.open_to_all, active_at = excluded.active_at",
                (
                    thread.thread_id,
                    thread.guild_id,
                    thread.channel_id,
                    thread.agent_id,
                    thread.starter_id,
                    int(thread.open_to_all),
                    to_db(self._clock()),
                    to_db(self._clock()),
                ),
            )
        )

    async def get(self, thread_id: str) -> AgentThread | None:
        """The thread's registration; None when it is not an agent thread."""
        found = await self._select("WHERE thread_id = ?", (thread_id,))
        return found[0] if found else None

    async def active_since(self, since: datetime) -> list[AgentThread]:
        """Threads registered or with a message handled since ``since``."""
        return await self._select("WHERE active_at >= ? ORDER BY active_at", (to_db(since),))

    async def mark_handled(self, thread_id: str, message_id: int) -> bool:
        """Claim ``message_id`` for this caller: True for the first claim of it
        from any process sharing the database, False for every later one (the
        same message delivered to two bot processes, or live and by a start-up
        catch-up); a caller that gets False must leave the message alone. The
        thread's newest handled message moves forward, never back.

        A claim per message, not a compare on the newest id: a catch-up
        answers missed messages one run at a time, and a newer message
        answered live meanwhile must not make it skip the older ones."""
        now = self._clock()
        return await self._serial.transact(
            lambda tx: _claim(tx, thread_id, message_id, to_db(now), to_db(now - CLAIMS_KEPT)), write=True
        )

    async def _select(self, where: str, params: tuple[object, ...]) -> list[AgentThread]:
        sql = (
            "SELECT thread_id, guild_id, channel_id, agent_id, starter_id, open_to_all, last_message_id"
            f" FROM agent_threads {where}"
        )
        rows = await self._reader.transact(lambda tx: tx.fetchall(sql, params))
        return [
            AgentThread(
                r["thread_id"],
                r["guild_id"],
                r["channel_id"],
                r["agent_id"],
                r["starter_id"],
                bool(r["open_to_all"]),
                int(r["last_message_id"]),
            )
            for r in rows
        ]

    async def set_open_to_all(self, thread_id: str, open_to_all: bool) -> bool:
        """Open the thread to every member (or close it back to its starter);
        False when it is not an agent thread."""
        found = await self._reader.transact(
            lambda tx: tx.fetchone("SELECT 1 FROM agent_threads WHERE thread_id = ?", (thread_id,))
        )
        known = found is not None
        if known:
            await self._writer.write(
                ("UPDATE agent_threads SET open_to_all = ? WHERE thread_id = ?", (int(open_to_all), thread_id))
            )
        return known


async def _claim(tx: Tx, thread_id: str, message_id: int, now: str, expired: str) -> bool:
    claimed = await tx.execute(
        "INSERT INTO handled_messages (message_id, thread_id, handled_at) VALUES (?, ?, ?)"
        " ON CONFLICT (message_id) DO NOTHING",
        (message_id, thread_id, now),
    )
    if claimed:
        await tx.execute(
            f"UPDATE agent_threads SET last_message_id = {tx.dialect.greatest('last_message_id', '?')},"
            " active_at = ? WHERE thread_id = ?",
            (message_id, now, thread_id),
        )
        await tx.execute("DELETE FROM handled_messages WHERE handled_at < ?", (expired,))
    return bool(claimed)
