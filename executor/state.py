"""The live run-state tally a self-status tool reads (``invocation.run_state``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from executor.llm.types import Usage


@dataclass(frozen=True, slots=True)
class RunStateSnapshot:
    run_id: str
    iteration: int
    max_steps: int
    tool_calls: int
    tool_errors: int
    usage: Usage
    elapsed_seconds: float
    max_runtime_seconds: float
    last_tool: str


@dataclass(slots=True)
class RunState:
    """Mutated by the loop only; read by tools. Single-threaded (one event loop)."""

    run_id: str
    max_steps: int
    max_runtime_seconds: float
    started: float = field(default_factory=time.monotonic)
    iteration: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    usage: Usage = field(default_factory=Usage)
    last_tool: str = ""

    def snapshot(self) -> RunStateSnapshot:
        return RunStateSnapshot(
            self.run_id,
            self.iteration,
            self.max_steps,
            self.tool_calls,
            self.tool_errors,
            self.usage,
            time.monotonic() - self.started,
            self.max_runtime_seconds,
            self.last_tool,
        )
