"""Registry (every tool the host knows) and Toolbox (the tools of one run)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from executor.errors import ToolboxError
from executor.llm.types import ToolCall, ToolSpec
from executor.tasks import settle
from executor.tools.base import Tool, ToolResult, Visibility
from executor.tools.invocation import Invocation


class Registry:
    """All tools the host offers, by name. Agents name the ones they get."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.register(t)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ToolboxError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self, visibility: Visibility = Visibility.PUBLIC) -> list[str]:
        return sorted(n for n, t in self._tools.items() if visibility.admits(t.visibility))

    def build(self, names: Sequence[str], invocation: Invocation, visibility: Visibility) -> Toolbox:
        """A Toolbox with the named tools, bound to one run's invocation.

        Raises ToolboxError naming an unknown tool or one the visibility does
        not admit, so a misconfigured agent fails before any model call.
        """
        box = Toolbox(invocation)
        for name in names:
            tool = self._tools.get(name)
            if tool is None:
                raise ToolboxError(f"unknown tool {name!r} (known: {', '.join(self.names(Visibility.PRIVATE))})")
            if not visibility.admits(tool.visibility):
                raise ToolboxError(f"tool {name!r} is private and this agent may not use it")
            box.add(tool)
        return box


Gate = Callable[[ToolCall], Awaitable[ToolResult | None]]
"""Asked before a well-formed call runs: None lets it run; a ToolResult is
the call's result instead (an approval gate's refusal)."""


class Toolbox:
    """The tools of one run; dispatches calls with per-tool timeouts.

    ``gate``, when set, is awaited before each call's handler, outside the
    tool's timeout (a person deciding is not the tool running)."""

    def __init__(self, invocation: Invocation) -> None:
        self.invocation = invocation
        self._tools: dict[str, Tool] = {}
        self._specs: tuple[ToolSpec, ...] | None = None
        self.gate: Gate | None = None

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ToolboxError(f"tool {tool.name!r} is already in this run's toolbox")
        self._tools[tool.name] = tool
        self._specs = None

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def specs(self) -> tuple[ToolSpec, ...]:
        """What the model is offered, built once (every model call asks) until a tool is added."""
        if self._specs is None:
            self._specs = tuple(t.spec() for t in self._tools.values())
        return self._specs

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one call. Never raises except CancelledError, and that only when
        the calling task is cancelled: an unknown tool, bad arguments, a
        raising, hanging or self-cancelling handler all become error results
        the model can read and correct."""
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolResult(f"error: no tool named {call.name!r}; available: {', '.join(self._tools)}", True)
        try:
            args = call.parsed_arguments()
        except ValueError as exc:
            return ToolResult(f"error: {exc}", True)
        missing = _missing_required(tool.parameters, args)
        if missing:
            return ToolResult(f"error: missing required argument(s) {', '.join(missing)} for {call.name!r}", True)
        if self.gate is not None:
            instead = await self.gate(call)
            if instead is not None:
                return instead
        # A handler that raises CancelledError by itself is told apart from this
        # run being cancelled; one that ignores its timeout's cancellation is
        # left behind after CANCEL_GRACE instead of holding the run.
        state = self.invocation.run_state
        task = await settle(
            tool.handler(self.invocation, args),
            tool.timeout,
            f"tool {call.name!r}",
            state.paused if state is not None else None,
        )
        if task is None:
            return ToolResult(f"error: {call.name!r} did not finish within {tool.timeout:g}s and was stopped", True)
        if task.cancelled():
            return ToolResult(f"error: {call.name!r} was cancelled from inside the tool and returned nothing", True)
        failure = task.exception()
        if failure is not None:  # a tool's bug is the model's error result, not the run's crash
            return ToolResult(f"error: {call.name!r} failed: {type(failure).__name__}: {failure}", True)
        out = task.result()
        return ToolResult(out) if isinstance(out, str) else out


def _missing_required(schema: dict[str, Any], args: dict[str, Any]) -> list[str]:
    required = schema.get("required") or []
    return [k for k in required if k not in args]
