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
    #: Seconds spent waiting for people (approvals) so far, and since when
    #: the calls waiting now have waited: not the run's working time.
    waited: float = 0.0
    waiting: int = 0
    waiting_since: float = 0.0

    def wait_started(self) -> None:
        if self.waiting == 0:
            self.waiting_since = time.monotonic()
        self.waiting += 1

    def wait_ended(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.waited += time.monotonic() - self.waiting_since

    def paused(self) -> float:
        """Seconds the run has waited for people, the wait going on included."""
        ongoing = time.monotonic() - self.waiting_since if self.waiting else 0.0
        return self.waited + ongoing

    def elapsed(self) -> float:
        """Seconds of working time used: since ``started`` (a resumed run's
        counts its earlier time), less its waits for people."""
        return time.monotonic() - self.started - self.paused()

    def deadline(self) -> float:
        """When the run's time limit ends (monotonic): working time only."""
        return self.started + self.max_runtime_seconds + self.paused()

    def snapshot(self) -> RunStateSnapshot:
        return RunStateSnapshot(
            self.run_id,
            self.iteration,
            self.max_steps,
            self.tool_calls,
            self.tool_errors,
            self.usage,
            self.elapsed(),
            self.max_runtime_seconds,
            self.last_tool,
        )
