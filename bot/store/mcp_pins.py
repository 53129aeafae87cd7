"""MCP tool pins in the database (the ``PinStore`` of ``bot/mcp/pins.py``).

A pin outlives restarts of the bot: a tool changed while the bot was down is
still held for review when it comes back. Definitions are stored as their
canonical JSON, so the stored text is exactly what was hashed. Writes are
durable: an approval is a security decision.
"""

from __future__ import annotations

from bot.mcp.pins import Pin, ToolDefinition
from bot.store.clock import Clock, to_db
from bot.store.database import Database
from bot.store.writer import Writer

_COLUMNS = "server_id, pinned, changed, approved_by"


class StorePins:
    def __init__(self, writer: Writer, reader: Database, clock: Clock) -> None:
        self._writer = writer
        self._reader = reader
        self._clock = clock

    async def get(self, server: str, tool: str) -> Pin | None:
        found = await self._select("WHERE server_id = ? AND tool = ?", (server, tool))
        return found[0] if found else None

    async def pin(self, server: str, definition: ToolDefinition, approved_by: str = "") -> None:
        now = to_db(self._clock())
        await self._writer.write(
            (
                "INSERT INTO mcp_tool_pins (server_id, tool, pinned, changed, approved_by, pinned_at, changed_at)"
                " VALUES (?, ?, ?, '', ?, ?, '') ON CONFLICT (server_id, tool) DO UPDATE SET"
                " pinned = excluded.pinned, changed = '', approved_by = excluded.approved_by,"
                " pinned_at = excluded.pinned_at, changed_at = ''",
                (server, definition.name, definition.canonical(), approved_by, now),
            ),
            durable=True,
        )

    async def hold(self, server: str, definition: ToolDefinition) -> None:
        await self._writer.write(
            (
                "UPDATE mcp_tool_pins SET changed = ?, changed_at = ? WHERE server_id = ? AND tool = ?",
                (definition.canonical(), to_db(self._clock()), server, definition.name),
            ),
            durable=True,
        )

    async def held(self) -> list[Pin]:
        return await self._select("WHERE changed != '' ORDER BY server_id, tool", ())

    async def _select(self, where: str, params: tuple[object, ...]) -> list[Pin]:
        sql = f"SELECT {_COLUMNS} FROM mcp_tool_pins {where}"
        rows = await self._reader.transact(lambda tx: tx.fetchall(sql, params))
        return [
            Pin(
                r["server_id"],
                ToolDefinition.from_json(r["pinned"]),
                ToolDefinition.from_json(r["changed"]) if r["changed"] else None,
                r["approved_by"],
            )
            for r in rows
        ]
