"""``run_status``: lets an agent see its own budget before it runs out of it."""

from __future__ import annotations

from typing import Any

from executor.tools.base import Tool
from executor.tools.builtin.errors import ToolError, reports_errors
from executor.tools.invocation import Invocation

DESCRIPTION = (
    "Your own progress in this run: which step you are on out of how many, tool calls made and "
    "failed, tokens used, and time used and left. Use it to pace long tasks."
)


@reports_errors
async def _run_status(invocation: Invocation, args: dict[str, Any]) -> str:
    if invocation.run_state is None:
        raise ToolError("this run has no progress record")
    s = invocation.run_state.snapshot()
    left = max(0.0, s.max_runtime_seconds - s.elapsed_seconds)
    lines = [
        f"step {s.iteration} of at most {s.max_steps} ({max(0, s.max_steps - s.iteration)} left)",
        f"tool calls: {s.tool_calls} ({s.tool_errors} failed)" + (f", last: {s.last_tool}" if s.last_tool else ""),
        f"tokens: {s.usage.input_tokens:,} in, {s.usage.output_tokens:,} out over {s.usage.requests} model calls",
        f"time: {s.elapsed_seconds:.0f} s used of {s.max_runtime_seconds:.0f} s ({left:.0f} s left)",
    ]
    return "\n".join(lines)


RUN_STATUS = Tool("run_status", DESCRIPTION, _run_status, timeout=5.0)
