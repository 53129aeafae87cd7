"""The official MCP SDK behind one small interface: connect, list tools, call one.

Everything SDK-specific lives here, including the translation of its errors
into ``bot/mcp/errors.py``. The SDK runs its transports in anyio task groups,
so ``connect`` must be entered and left by the same task (the supervisor's).

The environment of a stdio server: the SDK always adds what it considers
safe to inherit (``get_default_environment()``: HOME, LOGNAME, PATH, SHELL,
TERM, USER on POSIX), which carries no credentials and lets ``npx`` or
``uvx`` be found; the server file's ``env`` goes over that. Nothing else of
the bot's environment (DISCORD_TOKEN, provider keys) reaches the server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from types import TracebackType
from typing import Any, TextIO

import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client import Transport
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from bot.mcp.config import HttpServer, ServerConfig, StdioServer
from bot.mcp.errors import ConnectionLost, McpError, ServerError, describe
from bot.mcp.netguard import PolicyTransport
from bot.mcp.pins import ToolDefinition

#: Pages of tools/list read at most (a server that paginates forever cannot hang a listing).
MAX_TOOL_PAGES = 50
#: Seconds an HTTP read may wait: a server may hold its event stream open
#: this long (the SDK's own default). Each call is bounded by its timeout anyway.
_STREAM_READ_TIMEOUT = 300.0


class McpSession:
    """A live connection to one server.

    ``closed`` is set when the connection ends (the process exited, the
    stream closed) or when a caller saw it fail (``mark_lost``); the
    supervisor waits on it to restart the server."""

    def __init__(self, client: Client, closed: asyncio.Event) -> None:
        self._client = client
        self.closed = closed

    def mark_lost(self) -> None:
        self.closed.set()

    async def list_tools(self) -> list[ToolDefinition]:
        """Every tool the server lists. Raises McpError."""
        found: list[ToolDefinition] = []
        cursor: str | None = None
        for _ in range(MAX_TOOL_PAGES):
            with _translated():
                page = await self._client.list_tools(cursor=cursor)
            found.extend(ToolDefinition(t.name, t.description or "", dict(t.input_schema)) for t in page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        return found

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """The tool's result as text, and whether the server flagged it an
        error. Raises McpError when there is no result (the caller bounds the time)."""
        with _translated():
            result = await self._client.call_tool(tool, arguments)
        return result_text(result), result.is_error


@asynccontextmanager
async def connect(config: ServerConfig, errlog: TextIO) -> AsyncIterator[McpSession]:
    """Start (stdio) or reach (HTTP) the server and complete the MCP handshake.

    Raises McpError when it cannot. ``errlog`` receives a stdio server's stderr.
    """
    closed = asyncio.Event()
    async with AsyncExitStack() as stack:
        if isinstance(config, StdioServer):
            params = StdioServerParameters(
                command=config.command[0], args=list(config.command[1:]), env=dict(config.env), cwd=config.cwd
            )
            transport: Transport = stdio_client(params, errlog=errlog)
        else:
            transport = streamable_http_client(config.url, http_client=await stack.enter_async_context(_http(config)))
        # The response cache is off: a listing must always be the server's current one (pinning depends on it).
        client = Client(_Watched(transport, closed.set), cache=None)
        try:
            await stack.enter_async_context(client)
        except Exception as exc:
            raise McpError(f"could not start: {describe(exc)}") from None
        yield McpSession(client, closed)


def _http(config: HttpServer) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=PolicyTransport(config.policy()),
        headers=dict(config.headers),
        timeout=httpx2.Timeout(config.timeout, read=_STREAM_READ_TIMEOUT),
        follow_redirects=False,
        trust_env=False,  # no .netrc credentials, no proxies from the environment
    )


@contextmanager
def _translated() -> Iterator[None]:
    """Turns the SDK's exceptions into ours."""
    try:
        yield
    except McpError:
        raise
    except MCPError as exc:
        if exc.code == types.CONNECTION_CLOSED:
            raise ConnectionLost("the server closed the connection (it may have crashed); it is being restarted") from None
        raise ServerError(f"the server answered with an error: {exc.message}") from None
    except ValidationError:
        raise ServerError("the server sent an answer that is not valid MCP") from None
    except Exception as exc:
        raise ConnectionLost(f"the connection failed: {describe(exc)}") from None


def result_text(result: types.CallToolResult) -> str:
    """The result's content blocks as text. Media are named, not inlined."""
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, indent=2))
    return "\n".join(parts)


def _block_text(block: types.ContentBlock) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        return f"[{block.type} ({block.mime_type}, {len(block.data) * 3 // 4} bytes), not shown]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link: {block.uri}]"
    resource = block.resource
    if isinstance(resource, types.TextResourceContents):
        return f"[resource {resource.uri}]\n{resource.text}"
    return f"[resource {resource.uri} ({resource.mime_type or 'binary'}), not shown]"


class _Watched:
    """A transport whose read stream reports its end: when a stdio server's
    process exits, its stdout closes and ``on_close`` runs at once, so the
    supervisor restarts the server without waiting for a call to fail."""

    def __init__(self, inner: Transport, on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close

    async def __aenter__(self) -> tuple[Any, Any]:
        read, write = await self._inner.__aenter__()
        return _WatchedStream(read, self._on_close), write

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._inner.__aexit__(exc_type, exc, tb)


class _WatchedStream:
    """The SDK's read stream, passed through, calling ``on_close`` when the
    SDK's receive loop leaves it (end of stream, or shutdown)."""

    def __init__(self, inner: Any, on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close

    def __getattr__(self, name: str) -> Any:  # receive, aclose, last_context
        return getattr(self._inner, name)

    def __aiter__(self) -> Any:
        return self._inner.__aiter__()

    async def __aenter__(self) -> _WatchedStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            result: bool | None = await self._inner.__aexit__(exc_type, exc, tb)
            return result
        finally:
            self._on_close()
