"""The MCP servers of the bot: one supervisor each, and the tools they offer.

``McpManager`` is the one object the host holds::

    loaded = load_servers(settings.mcp_dir)
    async with McpManager(loaded.servers, pins) as mcp:
        tools = await mcp.tools_for({"github": ["search_issues"], "files": ["*"]})

Servers start when a run first needs them and are reused across runs; all
stop when the manager closes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO

from bot.mcp.config import ServerConfig
from bot.mcp.errors import McpError, ServerError
from bot.mcp.pins import Pin, PinStore, ToolDefinition, admit, approve
from bot.mcp.supervisor import Backoff, Connector, ServerState, Supervisor
from bot.mcp.tools import error_result, mcp_tool, nameable, untrusted_result
from executor import RunnableAgent
from executor.tools import Invocation, Tool, ToolResult

log = logging.getLogger(__name__)

#: In an allow list, every tool of the server.
ALL_TOOLS = "*"


class McpManager:
    """All configured servers. An async context manager: leaving it stops them.

    ``connector`` opens one session (default: the official SDK, see
    ``bot/mcp/session.py``); ``errlog`` gets stdio servers' stderr.
    """

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        pins: PinStore,
        *,
        errlog: TextIO | None = None,
        backoff: Backoff = Backoff(),
        connector: Connector | None = None,
    ) -> None:
        self._pins = pins
        self._servers: dict[str, Supervisor] = {}
        if servers:
            # The SDK (and the opentelemetry-api it imports) loads only when a server is configured.
            connect = connector or _sdk_connector()
            self._servers = {
                sid: Supervisor(config, connect, errlog or sys.stderr, backoff) for sid, config in servers.items()
            }
        self._unnameable: set[tuple[str, str]] = set()

    async def __aenter__(self) -> McpManager:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop every server. Idempotent."""
        await asyncio.gather(*(s.close() for s in self._servers.values()))

    async def tools_for(self, allow: Mapping[str, Sequence[str]]) -> list[Tool]:
        """The tools ``allow`` names (server id -> tool names, ``["*"]`` for
        all), as ``<server>__<tool>`` Tools, minus those held for review.

        Starts servers not running yet and waits for them (see
        ``Supervisor.listing``). A server that is unknown, fails or is slow contributes no tools (its
        state says why); this never raises for a server's failure.
        """
        offered = await asyncio.gather(*(self._offer(sid, list(names)) for sid, names in allow.items()))
        return [tool for tools in offered for tool in tools]

    async def tools(self, agent: RunnableAgent, invocation: Invocation) -> list[Tool]:
        """The executor's ToolSource: the tools ``agent`` allows (its ``external_tools``)."""
        return await self.tools_for(agent.external_tools)

    async def states(self) -> list[ServerState]:
        """Every server's state, by id, for ``/mcp list``."""
        held: dict[str, list[str]] = {}
        for pin in await self._pins.held():
            held.setdefault(pin.server, []).append(pin.tool)
        return [s.state(tuple(held.get(sid, ()))) for sid, s in sorted(self._servers.items())]

    async def held(self) -> list[Pin]:
        """Tools whose changed definition awaits review (see ``pins.diff``)."""
        return await self._pins.held()

    async def approve(self, server: str, tool: str, fingerprint: str, by: str) -> bool:
        """Accept the change of ``server``'s ``tool`` the admin was shown
        (``fingerprint`` of ``Pin.changed``); False if it changed again since."""
        return await approve(self._pins, server, tool, fingerprint, by)

    async def _offer(self, server_id: str, names: list[str]) -> list[Tool]:
        supervisor = self._servers.get(server_id)
        if supervisor is None:
            log.warning("no MCP server %r is configured (servers: %s)", server_id, ", ".join(sorted(self._servers)))
            return []
        timeout = supervisor.config.timeout
        try:
            listing = await supervisor.listing()
        except TimeoutError:
            log.warning("MCP server %r did not list its tools within %g s; not offered", server_id, timeout)
            return []
        except McpError as exc:
            log.warning("MCP server %r: %s; its tools are not offered", server_id, exc)
            return []
        wanted = listing if ALL_TOOLS in names else [d for d in listing if d.name in names]
        tools = []
        for definition in wanted:
            if not nameable(server_id, definition.name):
                self._warn_unnameable(server_id, definition.name)
            elif await admit(self._pins, server_id, definition):
                tools.append(mcp_tool(server_id, definition, functools.partial(_call, supervisor), timeout))
        return tools

    def _warn_unnameable(self, server_id: str, tool: str) -> None:
        if (server_id, tool) not in self._unnameable:
            self._unnameable.add((server_id, tool))
            log.warning(
                "MCP server %r: tool %r is not offered: model APIs accept only letters, digits, '_' and '-'"
                " in tool names, up to 64 with the server prefix",
                server_id,
                tool,
            )


async def _call(supervisor: Supervisor, definition: ToolDefinition, args: dict[str, Any]) -> ToolResult:
    """One call, bounded by the server's timeout; every failure is an error
    result the model reads (a call never raises into the run)."""
    server, tool, timeout = supervisor.config.id, definition.name, supervisor.config.timeout
    now = supervisor.current(tool)
    if now is not None and now.fingerprint() != definition.fingerprint():
        return error_result(server, tool, "the server changed this tool since the run started; it awaits an admin's review")
    try:
        async with asyncio.timeout(timeout):
            session = await supervisor.session(wait=timeout)
            with supervisor.watching(session):
                text, is_error = await session.call(tool, args)
    except TimeoutError:
        return error_result(server, tool, f"the server did not answer within {timeout:g} s; the call was abandoned")
    except ServerError as exc:  # its message quotes the server
        return untrusted_result(server, tool, str(exc), is_error=True)
    except McpError as exc:
        return error_result(server, tool, str(exc))
    return untrusted_result(server, tool, text, is_error)


def _sdk_connector() -> Connector:
    """The SDK's connector, or one that explains how to install it: a bot
    installed without the ``mcp`` extra still runs, with its servers failed."""
    try:
        from bot.mcp.session import connect
    except ImportError as exc:
        missing = f"the MCP SDK is not installed ({exc}); install it with pip install 'executus[mcp]'"

        def unavailable(config: ServerConfig, errlog: TextIO) -> Any:
            raise McpError(missing)

        return unavailable
    return connect
