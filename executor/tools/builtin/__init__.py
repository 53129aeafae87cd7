"""The tools executus ships, a public face of its own: registry tools for
every run, the per-run workspace (charts and files uploaded with the answer),
and the checks a host shares with them (member images, argument errors).

Host wiring::

    registry = Registry(builtin_tools(NetPolicy()))
    result = await executor.run(agent, invocation, prompt, session_tools=workspace_session_factory())

``render_chart`` and ``write_file`` are session tools, not registry tools:
they need a store that lives exactly as long as one run. One module per tool
(``calc``, ``clock``, ``fetch``, ``images``, ``charts``, ``files``,
``status``); ``netsafe`` and ``safefetch`` keep fetches off private
addresses; ``workspace`` is the per-run file store; ``validation`` and
``errors`` turn bad arguments and failures into results the model reads.
"""

from __future__ import annotations

from collections.abc import Collection

import httpx

from executor.llm.types import Message
from executor.tools.base import Tool
from executor.tools.builtin.calc import CALCULATOR
from executor.tools.builtin.charts import render_chart_tool
from executor.tools.builtin.clock import current_time_tool
from executor.tools.builtin.errors import ToolError
from executor.tools.builtin.fetch import fetch_url_tool
from executor.tools.builtin.files import write_file_tool
from executor.tools.builtin.images import MAX_IMAGE_BYTES, NotAnImage, checked_image, size_problem, view_image_tool
from executor.tools.builtin.netsafe import FetchError, NetPolicy, Refused
from executor.tools.builtin.safefetch import SafeFetcher
from executor.tools.builtin.status import RUN_STATUS
from executor.tools.builtin.validation import describe_errors
from executor.tools.builtin.workspace import MAX_FILES, MAX_TOTAL_BYTES, Workspace
from executor.tools.session import PostRunResult, RunSession, SessionToolFactory, SessionTools

WORKSPACE_TOOL_NAMES = frozenset({"render_chart", "write_file"})


def builtin_tools(policy: NetPolicy | None = None, http: httpx.AsyncClient | None = None) -> list[Tool]:
    """The registry tools. ``policy`` bounds where fetch_url and view_image may
    connect (default: public addresses only); ``http`` is an optional client
    of their own to reuse (see SafeFetcher)."""
    fetcher = SafeFetcher(policy, http)
    return [fetch_url_tool(fetcher), view_image_tool(fetcher), CALCULATOR, current_time_tool(), RUN_STATUS]


def workspace_session_factory(
    *,
    only: Collection[str] | None = None,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> SessionToolFactory:
    """A factory giving each run render_chart and write_file (or ``only`` the
    named ones) over a fresh in-memory Workspace. PostRun hands the files made
    to the host as artifacts, even when the run failed (partial work is still
    worth having); cleanup empties the workspace."""
    wanted = WORKSPACE_TOOL_NAMES if only is None else frozenset(only)
    if not wanted <= WORKSPACE_TOOL_NAMES:
        raise ValueError(f"not workspace tools: {', '.join(sorted(wanted - WORKSPACE_TOOL_NAMES))}")

    def factory(session: RunSession) -> SessionTools:
        workspace = Workspace(max_files, max_total_bytes)
        tools = [t for t in (render_chart_tool(workspace), write_file_tool(workspace)) if t.name in wanted]

        async def post_run(transcript: list[Message], output: str, err: BaseException | None) -> PostRunResult | None:
            files = workspace.artifacts()
            return PostRunResult(artifacts=files) if files else None

        async def cleanup() -> None:
            workspace.clear()

        return SessionTools(tools=tools, post_run=post_run, cleanup=cleanup)

    return factory


__all__ = [
    "MAX_IMAGE_BYTES",
    "WORKSPACE_TOOL_NAMES",
    "FetchError",
    "NetPolicy",
    "NotAnImage",
    "Refused",
    "SafeFetcher",
    "ToolError",
    "Workspace",
    "builtin_tools",
    "checked_image",
    "describe_errors",
    "size_problem",
    "workspace_session_factory",
]
