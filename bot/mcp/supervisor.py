"""One MCP server's life: started when first needed, restarted when it dies.

A supervisor task owns the connection (the SDK's task groups must be entered
and left by one task) and loops: connect, list the tools, serve until the
connection ends, then wait out a backoff and start again. Callers in other
tasks borrow the live session. Nothing here raises into the bot for a
server's failure: it becomes the server's state, which ``/mcp list`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TextIO

from bot.mcp.config import ServerConfig
from bot.mcp.errors import ConnectionLost, McpError, ServerUnavailable, describe
from bot.mcp.pins import ToolDefinition

log = logging.getLogger(__name__)


class Session(Protocol):
    """A live connection to one server (``bot.mcp.session.McpSession`` is the real one)."""

    #: Set when the connection has ended; the supervisor then restarts the server.
    closed: asyncio.Event

    def mark_lost(self) -> None:
        """A caller saw the connection fail: end it (sets ``closed``)."""

    async def list_tools(self) -> list[ToolDefinition]:
        """Every tool the server lists. Raises McpError."""

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[str, bool]:
        """The result as text and whether it is an error result. Raises McpError."""


Connector = Callable[[ServerConfig, TextIO], AbstractAsyncContextManager[Session]]
"""Opens a session to a server (``bot.mcp.session.connect``); raises McpError when it cannot."""

#: How long a server may take to start and list its tools (``npx``/``uvx``
#: may download the server first), whatever its per-call timeout.
START_TIMEOUT = 60.0


class Status(StrEnum):
    IDLE = "idle"  # configured, not needed yet
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"  # could not start, or died; tried again after a delay
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between restarts: ``first``, doubling up to ``most``. A server
    that ran for ``most`` seconds before dying starts over at ``first``."""

    first: float = 0.5
    most: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.first * 2 ** max(failures - 1, 0), self.most)


@dataclass(frozen=True, slots=True)
class ServerState:
    """What ``/mcp list`` shows of a server."""

    id: str
    transport: str
    status: Status
    #: Why it is not running (the last start failure or how it died); empty when running.
    error: str = ""
    #: The tools of its latest listing.
    tools: tuple[str, ...] = ()
    #: Tools whose change awaits an admin's review (not offered meanwhile).
    held: tuple[str, ...] = ()
    #: Successful starts; above 1 means it was restarted.
    starts: int = 0
    #: Seconds until the next start attempt, while ``failed``.
    retry_in: float = 0.0


class Supervisor:
    def __init__(self, config: ServerConfig, connector: Connector, errlog: TextIO, backoff: Backoff) -> None:
        self.config = config
        self._connector = connector
        self._errlog = errlog
        self._backoff = backoff
        self._status = Status.IDLE
        self._error = ""
        self._session: Session | None = None
        self._tools: dict[str, ToolDefinition] = {}
        self._starts = 0
        self._failures = 0
        #: Whether the last failure was a running server dying (not a failed start).
        self._crashed = False
        self._retry_at = 0.0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def state(self, held: tuple[str, ...] = ()) -> ServerState:
        retry_in = max(self._retry_at - time.monotonic(), 0.0) if self._status is Status.FAILED else 0.0
        return ServerState(
            self.config.id,
            self.config.transport,
            self._status,
            self._error,
            tuple(sorted(self._tools)),
            held,
            self._starts,
            retry_in,
        )

    def current(self, tool: str) -> ToolDefinition | None:
        """The tool as the server described it in its latest listing."""
        return self._tools.get(tool)

    async def listing(self) -> list[ToolDefinition]:
        """The server's tools, listed now (a listing can change between runs).

        Waits while the server starts (at most START_TIMEOUT: a first run
        should get the tools its agent allows); the listing itself is bounded
        by the server's timeout. Raises McpError, or TimeoutError.
        """
        session = await self.session(wait=self.config.timeout)
        with self.watching(session):
            async with asyncio.timeout(self.config.timeout):
                tools = await session.list_tools()
        self._tools = {t.name: t for t in tools}
        return tools

    async def session(self, wait: float) -> Session:
        """The live session, starting the server on first use.

        Waits while the server starts, and for the restart of a server that
        was running and died if that restart is due within ``wait`` seconds.
        A server that failed to start raises ServerUnavailable with the
        reason at once, rather than hold a run through its backoff.
        """
        if self._task is None and self._status is Status.IDLE:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"mcp-server-{self.config.id}")
        while True:
            changed = self._changed
            session = self._session
            if session is not None and not session.closed.is_set():
                return session
            if self._status is Status.STOPPED:
                raise ServerUnavailable("the server is stopped")
            restarting = self._crashed and self._retry_at - time.monotonic() <= wait
            if self._status is Status.FAILED and not restarting:
                retry_in = max(self._retry_at - time.monotonic(), 0.0)
                raise ServerUnavailable(f"the server is not available ({self._error}); it is tried again in {retry_in:.1f} s")
            await changed.wait()

    @contextlib.contextmanager
    def watching(self, session: Session) -> Iterator[None]:
        """Marks ``session`` lost when a request through it finds the connection gone."""
        try:
            yield
        except ConnectionLost:
            session.mark_lost()
            raise

    async def close(self) -> None:
        """Stop the server (if it runs) and the supervisor. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            log.info("MCP server %r stopped", self.config.id)
        self._set(Status.STOPPED, self._error)

    def _set(self, status: Status, error: str = "") -> None:
        self._status = status
        self._error = error
        # Wake everyone waiting for a change; later waiters wait for the next one.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _run(self) -> None:
        while True:
            self._set(Status.STARTING)
            started: float | None = None
            try:
                async with AsyncExitStack() as stack:
                    async with asyncio.timeout(START_TIMEOUT):
                        session = await stack.enter_async_context(self._connector(self.config, self._errlog))
                        tools = await session.list_tools()
                    started = time.monotonic()
                    self._tools = {t.name: t for t in tools}
                    self._session = session
                    self._starts += 1
                    self._set(Status.RUNNING)
                    log.info("MCP server %r running with %d tools", self.config.id, len(tools))
                    await session.closed.wait()
                error = "the connection ended (the server exited or closed it)"
            except TimeoutError:
                error = f"did not start and list its tools within {START_TIMEOUT:g} s"
            except McpError as exc:
                error = str(exc)
            except Exception as exc:  # the SDK failing in a way we did not translate must not end the supervisor
                error = describe(exc)
            finally:
                self._session = None
            ran_long = started is not None and time.monotonic() - started >= self._backoff.most
            self._failures = 1 if ran_long else self._failures + 1
            self._crashed = started is not None
            delay = self._backoff.delay(self._failures)
            self._retry_at = time.monotonic() + delay
            self._set(Status.FAILED, error)
            log.warning("MCP server %r: %s; starting it again in %.1f s", self.config.id, error, delay)
            await asyncio.sleep(delay)
