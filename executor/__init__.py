"""executus's agent runtime: a Python port of the Go executor.

It imports nothing from ``discord``, ``bot`` or ``cogs``. This package is its
main public face: hosts import the run contract, the ports they implement and
the errors they translate from here, with ``executor.llm`` (messages, model
providers, tiers), ``executor.tools`` (tools, registry, the Invocation),
``executor.tools.builtin`` (the tools executus ships) and
``executor.llm.pricing`` (model prices) beside it. The modules below are
private to the runtime.

Layout:

- ``run``: Executor, the run contract (budget gate -> model -> audit ->
  toolbox -> loop -> PostRun -> audit close -> budget commit -> delivery);
- ``agent``, ``result``, ``config``: RunnableAgent; Result and RunStatus;
  Config, Defaults and the ModelResolver;
- ``ports``: the Protocols the host implements (Budget, Audit/RunRecorder,
  Palette, Delivery, Escalator, ToolSource) and the records they receive;
  ``approval``: approval gates (the Approver port, its requests and
  decisions, an agent's ApprovalPolicy); ``tracing``:
  the Tracer port (spans around a run, its model and tool calls);
- ``record``: RunRecord, what a run recorded, which a run resumed after
  its process died replays;
- ``spending``: each model call held against the member's money, priced
  and settled (the CallBudget port, BudgetReached);
- ``loop``: the agent loop; ``hooks``: what the executor does at each of its
  points (progress, critic clock, audit steps); ``critic``, ``compact``,
  ``delegation``, ``state``, ``tasks``, ``errors``;
- ``tools/`` and ``llm/``: see their own docstrings.
"""

from __future__ import annotations

from executor.agent import RunnableAgent
from executor.approval import (
    DEFAULT_APPROVAL_TIMEOUT,
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    Approver,
)
from executor.compact import Compactor, SummaryCompactor
from executor.config import Config, Defaults, ModelResolver
from executor.errors import (
    BudgetExceeded,
    CriticKilled,
    ExecutorError,
    LoopGuardTripped,
    ModelResolutionError,
    RunCancelled,
    RunTimeout,
    ToolboxError,
)
from executor.ports import (
    Audit,
    Budget,
    CriticDecision,
    CriticReport,
    Delivery,
    Escalator,
    Palette,
    Ports,
    RunInfo,
    RunRecorder,
    RunStats,
    Spend,
    Target,
    ToolSource,
)
from executor.record import NO_CONTEXT, CompactionEdit, RecordedStep, RunRecord, StepContext
from executor.result import Result, RunStatus
from executor.run import Executor
from executor.spending import BudgetReached, CallBudget, Tariff, Tariffs
from executor.tracing import NO_TRACING, REJECTED, ModelCallSpan, NoTracing, RunSpan, ToolCallSpan, Tracer

__all__ = [
    "DEFAULT_APPROVAL_TIMEOUT",
    "NO_CONTEXT",
    "NO_TRACING",
    "REJECTED",
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalRequest",
    "Approver",
    "Audit",
    "Budget",
    "BudgetExceeded",
    "BudgetReached",
    "CallBudget",
    "Compactor",
    "Config",
    "CriticDecision",
    "CompactionEdit",
    "CriticKilled",
    "CriticReport",
    "Defaults",
    "Delivery",
    "Escalator",
    "Executor",
    "ExecutorError",
    "LoopGuardTripped",
    "ModelResolutionError",
    "ModelCallSpan",
    "ModelResolver",
    "NoTracing",
    "Palette",
    "Ports",
    "RecordedStep",
    "Result",
    "RunCancelled",
    "RunInfo",
    "RunRecord",
    "RunRecorder",
    "RunSpan",
    "RunStats",
    "RunStatus",
    "RunTimeout",
    "RunnableAgent",
    "Spend",
    "StepContext",
    "SummaryCompactor",
    "Target",
    "Tariff",
    "Tariffs",
    "ToolCallSpan",
    "ToolSource",
    "ToolboxError",
    "Tracer",
]
