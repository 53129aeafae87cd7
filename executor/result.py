"""Result and RunStatus: what a run ends with."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from executor.llm.types import Message, Usage
from executor.tools.invocation import Step
from executor.tools.session import PostRunResult


class RunStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    #: The run reached its own max_runtime.
    TIMEOUT = "timeout"
    #: By the member (the cancel handle) or the caller's task.
    CANCELLED = "cancelled"
    #: By the critic.
    KILLED = "killed"


@dataclass(slots=True)
class Result:
    """One run's outcome. ``err`` carries the failure; the other fields are
    filled best-effort even then (partial output, steps, usage)."""

    run_id: str
    status: RunStatus = RunStatus.OK
    output: str = ""
    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    err: BaseException | None = None
    post_run_result: PostRunResult | None = None
    ceiling_hit: bool = False
    transcript: list[Message] = field(default_factory=list)
    runtime_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.err is None
