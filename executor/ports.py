"""Ports: the Protocols the host implements and passes into ``Config``
(with ``Approver``, in ``executor/approval.py``).

Each is optional; the executor is None-safe about all of them, as the Go
executor is. One method per capability.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from executor.agent import RunnableAgent
from executor.approval import Approver
from executor.llm.types import AssistantMessage, ToolCall, Usage
from executor.record import NO_CONTEXT, StepContext
from executor.result import Result
from executor.spending import CallBudget
from executor.tools.base import Tool, ToolResult
from executor.tools.invocation import Invocation
from executor.tracing import NO_TRACING, Tracer


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the audit records when a run starts."""

    run_id: str
    agent_id: str
    agent_name: str
    caller_id: str
    guild_id: str
    channel_id: str
    parent_run_id: str
    input: str
    inputs: dict[str, Any]
    started_at: datetime
    max_iterations: int
    tier: str
    model: str


@dataclass(frozen=True, slots=True)
class RunStats:
    """The terminal roll-up written when a run closes."""

    status: str
    output: str
    error: str
    tool_calls: int
    runtime_seconds: float
    usage: Usage
    ceiling_hit: bool
    steps: int


class RunRecorder(Protocol):
    """One run's audit trail. ``close`` is called exactly once, on every path.

    It is also the run's checkpoint (executor/record.py): ``on_step`` gets a
    model response that asked for tools before they run, ``on_tool`` each
    result before the next model call. A durable recorder returns once the
    record would survive the process's death; what it recorded comes back as
    the RunRecord of ``Executor.run(..., resume=...)``.
    """

    async def on_step(
        self, index: int, response: AssistantMessage, usage: Usage, *, context: StepContext = NO_CONTEXT
    ) -> None: ...

    async def on_tool(self, index: int, call: ToolCall, result: ToolResult, *, elapsed: float = 0.0) -> None: ...

    async def log_event(self, kind: str, data: dict[str, Any]) -> None: ...

    async def close(self, stats: RunStats) -> None: ...


class Audit(Protocol):
    async def start_run(self, info: RunInfo) -> RunRecorder | None: ...

    async def resume_run(self, run_id: str) -> RunRecorder | None:
        """The recorder of a run started before (by a process now gone) that
        goes on here: it adds to the run's rows instead of starting them."""

    async def record_rejection(self, info: RunInfo, reason: str) -> None:
        """A run the budget gate refused: it has no recorder and made no model
        call. ``reason`` is the refusal (``str`` of the BudgetExceeded)."""


@dataclass(frozen=True, slots=True)
class Spend:
    """What a run really spent, committed to the budget ledger."""

    runtime_seconds: float
    usage: Usage
    status: str


class Budget(Protocol):
    """Per-member limits.

    ``check`` reserves atomically and raises ``BudgetExceeded`` (the host may
    subclass it to carry its own details) when a limit would be passed; it is
    the gate before any model call, and the executor records the refusal
    through the Audit port. ``commit`` records the real spend and releases
    the reservation; the executor calls it exactly once for every run that
    passed ``check``.
    """

    async def check(self, invocation: Invocation, agent_id: str) -> None: ...

    async def commit(self, invocation: Invocation, spend: Spend) -> None: ...


class Palette(Protocol):
    """Resolves the skills and agents an agent may delegate to."""

    def skill(self, name: str) -> RunnableAgent | None: ...

    def agent(self, name: str) -> RunnableAgent | None: ...


@dataclass(frozen=True, slots=True)
class Target:
    kind: str
    id: str


class Delivery(Protocol):
    """Posts a finished run where the member asked. Best-effort: the executor
    ignores what it raises (a delivery failure does not change the run)."""

    async def deliver(self, target: Target, result: Result) -> None: ...

    async def deliver_error(self, target: Target, result: Result) -> None: ...


@dataclass(frozen=True, slots=True)
class CriticReport:
    """What the critic tells the host's Escalator about a run."""

    run_id: str
    agent_id: str
    reason: Literal["idle", "ceiling"]
    idle_seconds: float
    iteration: int
    max_steps: int
    last_tools: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CriticDecision:
    """``continue`` does nothing; ``nudge`` injects ``message`` before the next
    model call; ``extend`` raises the step ceiling by ``extra_steps``; ``kill``
    ends the run as ``killed``."""

    action: Literal["continue", "nudge", "extend", "kill"]
    message: str = ""
    extra_steps: int = 0


class Escalator(Protocol):
    async def escalate(self, report: CriticReport) -> CriticDecision: ...


class ToolSource(Protocol):
    """Tools from outside the registry (the host's MCP servers)."""

    async def tools(self, agent: RunnableAgent, invocation: Invocation) -> list[Tool]:
        """The tools ``agent.external_tools`` allows that can be offered now.
        Never raises for a source that is down: it offers nothing."""


@dataclass(slots=True)
class Ports:
    budget: Budget | None = None
    audit: Audit | None = None
    palette: Palette | None = None
    delivery: Delivery | None = None
    escalator: Escalator | None = None
    tools: ToolSource | None = None
    approver: Approver | None = None
    #: Spans around runs, model calls and tool calls; the host's metrics
    #: observer and OpenTelemetry both come in through it.
    tracer: Tracer = NO_TRACING
    #: Holds money for each model call (executor/spending.py).
    calls: CallBudget | None = None
