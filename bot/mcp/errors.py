"""What goes wrong talking to an MCP server, as the rest of the bot sees it.

The SDK's exceptions (``MCPError`` codes, ``httpx2`` errors, exception
groups from its task groups) are translated into these in one place,
``bot/mcp/session.py``. Messages are written for the model and for the
admin reading ``/mcp list``; they never carry env values or headers.
"""

from __future__ import annotations

import asyncio


class McpError(Exception):
    """A failure talking to an MCP server."""


class ServerUnavailable(McpError):
    """The server is not running: it failed to start, or it is being restarted."""


class ConnectionLost(ServerUnavailable):
    """The connection ended while a request was in flight (the server crashed
    or closed it); the server is restarted."""


class ServerError(McpError):
    """The server answered a request with an error."""


def describe(exc: BaseException) -> str:
    """One line for an exception, looking inside exception groups (the SDK's
    task groups raise them) for the failure that started it."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        if not inner:
            break
        exc = inner[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
