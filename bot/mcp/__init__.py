"""MCP (Model Context Protocol) tool servers: operator-declared, pinned, supervised.

Nothing here imports discord; the official ``mcp`` SDK is imported only by
``bot/mcp/session.py`` (the ``executus[mcp]`` extra).
"""

from __future__ import annotations

from bot.mcp.config import HttpServer, LoadedServers, ServerConfig, StdioServer, load_servers
from bot.mcp.manager import ALL_TOOLS, McpManager
from bot.mcp.pins import MemoryPinStore, Pin, PinStore, ToolDefinition, diff
from bot.mcp.supervisor import Backoff, ServerState, Status

__all__ = [
    "ALL_TOOLS",
    "Backoff",
    "HttpServer",
    "LoadedServers",
    "McpManager",
    "MemoryPinStore",
    "Pin",
    "PinStore",
    "ServerConfig",
    "ServerState",
    "StdioServer",
    "Status",
    "ToolDefinition",
    "diff",
    "load_servers",
]
