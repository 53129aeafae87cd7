"""The registry of agent threads: which Discord threads an agent answers in,
who started each, whether admins opened it to everyone, and the newest
message the bot handled there (to catch up on what was posted while it was
down)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.clock import Clock, to_db
from bot.store.connection import SharedConnection
from bot.store.writer import Writer


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
    def __init__(self, writer: Writer, reader: SharedConnection, clock: Clock) -> None:
        self._writer = writer
        self._reader = reader
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

    async def mark_handled(self, thread_id: str, message_id: int) -> None:
        """Record that the bot has taken up ``message_id``; never moves back."""
        await self._writer.write(
            (
                "UPDATE agent_threads SET last_message_id = MAX(last_message_id, ?), active_at = ?"
                " WHERE thread_id = ?",
                (message_id, to_db(self._clock()), thread_id),
            )
        )

    async def _select(self, where: str, params: tuple[object, ...]) -> list[AgentThread]:
        async with self._reader.transaction() as conn:
            async with conn.execute(
                "SELECT thread_id, guild_id, channel_id, agent_id, starter_id, open_to_all, last_message_id"
                f" FROM agent_threads {where}",
                params,
            ) as cursor:
                rows = await cursor.fetchall()
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
        async with self._reader.transaction() as conn:
            async with conn.execute("SELECT 1 FROM agent_threads WHERE thread_id = ?", (thread_id,)) as cursor:
                known = await cursor.fetchone() is not None
        if known:
            await self._writer.write(
                ("UPDATE agent_threads SET open_to_all = ? WHERE thread_id = ?", (int(open_to_all), thread_id))
            )
        return known
