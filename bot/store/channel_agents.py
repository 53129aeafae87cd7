"""Agents bound to channels: in a bound channel, its threads and its forum
posts, a mention of the bot or an /ask that names no agent runs the bound
one. One agent per channel; binding again replaces it. Admins set them
(/agent bind, /agent unbind); /agents lists a server's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.clock import Clock, from_db, to_db
from bot.store.database import Database, Row, Tx, placeholders


@dataclass(frozen=True, slots=True)
class ChannelAgent:
    channel_id: str
    guild_id: str
    agent_id: str
    bound_by: str
    bound_at: datetime


class ChannelAgents:
    def __init__(self, serial: Database, reader: Database, clock: Clock) -> None:
        self._serial = serial
        self._reader = reader
        self._clock = clock

    async def bind(self, guild_id: str, channel_id: str, agent_id: str, bound_by: str) -> str | None:
        """Bind ``agent_id`` to the channel; returns the agent bound there
        before (replaced), None when there was none. One transaction."""
        now = to_db(self._clock())

        async def body(tx: Tx) -> str | None:
            before = await tx.fetchone("SELECT agent_id FROM channel_agents WHERE channel_id = ?", (channel_id,))
            await tx.execute(
                "INSERT INTO channel_agents (channel_id, guild_id, agent_id, bound_by, bound_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel_id) DO UPDATE SET guild_id = excluded.guild_id,"
                " agent_id = excluded.agent_id, bound_by = excluded.bound_by, bound_at = excluded.bound_at",
                (channel_id, guild_id, agent_id, bound_by, now),
            )
            return str(before["agent_id"]) if before is not None else None

        return await self._serial.transact(body, write=True, key=f"channel_agents:{channel_id}")

    async def unbind(self, guild_id: str, channel_id: str) -> str | None:
        """Remove the channel's binding in ``guild_id``; the agent that was
        bound, None when none was."""

        async def body(tx: Tx) -> str | None:
            row = await tx.fetchone(
                "DELETE FROM channel_agents WHERE channel_id = ? AND guild_id = ? RETURNING agent_id",
                (channel_id, guild_id),
            )
            return str(row["agent_id"]) if row is not None else None

        return await self._serial.transact(body, write=True, key=f"channel_agents:{channel_id}")

    async def agent_for(self, *channel_ids: str) -> str | None:
        """The agent bound to the first of ``channel_ids`` that has one (a
        thread, then the channel it is in), None when none is bound."""
        ids = [c for c in channel_ids if c]
        if not ids:
            return None
        rows = await self._reader.transact(
            lambda tx: tx.fetchall(f"SELECT channel_id, agent_id FROM channel_agents WHERE channel_id IN {placeholders(ids)}", ids)
        )
        bound = {r["channel_id"]: str(r["agent_id"]) for r in rows}
        return next((bound[c] for c in ids if c in bound), None)

    async def in_guild(self, guild_id: str) -> list[ChannelAgent]:
        """The server's bindings, oldest first."""
        rows = await self._reader.transact(
            lambda tx: tx.fetchall(
                "SELECT channel_id, guild_id, agent_id, bound_by, bound_at FROM channel_agents"
                " WHERE guild_id = ? ORDER BY bound_at, channel_id",
                (guild_id,),
            )
        )
        return [_binding(r) for r in rows]


def _binding(row: Row) -> ChannelAgent:
    return ChannelAgent(
        str(row["channel_id"]), str(row["guild_id"]), str(row["agent_id"]), str(row["bound_by"]), from_db(row["bound_at"])
    )
