"""Supervisor behaviour the real SDK cannot be made to show on demand: a call
that finds the connection broken while the connection itself has not ended.
Everything else is tested against real servers in test_mcp_servers.py."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TextIO

from bot.mcp import Backoff, McpManager, MemoryPinStore, StdioServer, ToolDefinition
from bot.mcp.config import ServerConfig
from bot.mcp.errors import ConnectionLost
from tests.test_mcp_servers import call, inside, state_of

ECHO = ToolDefinition("echo", "Echo.", {"type": "object", "properties": {"text": {"type": "string"}}})


class Scripted:
    """A session whose calls fail as a broken pipe would (when ``broken``),
    without the connection ending on its own."""

    def __init__(self, broken: bool) -> None:
        self.broken = broken
        self.closed = asyncio.Event()

    def mark_lost(self) -> None:
        self.closed.set()

    async def list_tools(self) -> list[ToolDefinition]:
        return [ECHO]

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        if self.broken:
            raise ConnectionLost("the connection failed: BrokenPipeError")
        return arguments["text"], False


class FirstConnectionBroken:
    """A connector: the first session it opens is broken, later ones work."""

    def __init__(self) -> None:
        self.opened = 0

    @asynccontextmanager
    async def __call__(self, config: ServerConfig, errlog: TextIO) -> AsyncIterator[Scripted]:
        self.opened += 1
        yield Scripted(broken=self.opened == 1)


async def test_a_call_that_finds_the_connection_broken_gets_the_server_restarted() -> None:
    server = StdioServer("s", ("unused",), timeout=10)
    async with McpManager({"s": server}, MemoryPinStore(), errlog=io.StringIO(), backoff=Backoff(0.01, 0.1), connector=FirstConnectionBroken()) as manager:
        tools = await manager.tools_for({"s": ["echo"]})
        failed = await call(tools, "s__echo", text="one")
        assert failed.is_error and "BrokenPipeError" in failed.content
        assert inside(await call(tools, "s__echo", text="two")) == "two"
        assert (await state_of(manager, "s")).starts == 2
