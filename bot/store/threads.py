"""The registry of agent threads: which Discord threads an agent answers in,
who started each, and whether admins opened it to everyone."""

from __future__ import annotations

from dataclasses import dataclass

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
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET"
                " guild_id = excluded.guild_id, channel_id = excluded.channel_id, agent_id = excluded.agent_id,"
                " starter_id = excluded.starter_id, open_to_all = excluded.open_to_all",
                (
                    thread.thread_id,
                    thread.guild_id,
                    thread.channel_id,
                    thread.agent_id,
                    thread.starter_id,
                    int(thread.open_to_all),
                    to_db(self._clock()),
                ),
            )
        )

    async def get(self, thread_id: str) -> AgentThread | None:
        """The thread's registration; None when it is not an agent thread."""
        async with self._reader.transaction() as conn:
            async with conn.execute(
                "SELECT thread_id, guild_id, channel_id, agent_id, starter_id, open_to_all"
                " FROM agent_threads WHERE thread_id = ?",
                (thread_id,),
            ) as cursor:
                row = await cursor.fetchone()
        if row is None:
            return None
        return AgentThread(
            row["thread_id"], row["guild_id"], row["channel_id"], row["agent_id"], row["starter_id"], bool(row["open_to_all"])
        )

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
