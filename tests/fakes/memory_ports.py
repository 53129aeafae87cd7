"""In-memory Port implementations that record every call, for executor tests.

They count what the executor promises to do exactly once (audit close,
budget commit) so tests can check it on every path. Given one shared
``journal`` list, the audit, budget and delivery also note each post-run step
in it, so a test can check their order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from executor import NO_CONTEXT, Result, RunnableAgent, StepContext
from executor.errors import BudgetExceeded
from executor.llm.types import AssistantMessage, ToolCall, Usage
from executor.ports import (
    CriticDecision,
    CriticReport,
    RunInfo,
    RunStats,
    Spend,
    Target,
)
from executor.tools.base import ToolResult
from executor.tools.invocation import Invocation


@dataclass
class RecordedRun:
    info: RunInfo
    steps: list[tuple[int, AssistantMessage, Usage]] = field(default_factory=list)
    #: What each step's model call had besides the conversation (steering, compaction, ceiling).
    contexts: list[StepContext] = field(default_factory=list)
    tools: list[tuple[int, ToolCall, ToolResult]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closes: list[RunStats] = field(default_factory=list)
    journal: list[str] | None = None

    async def on_step(
        self, index: int, response: AssistantMessage, usage: Usage, *, context: StepContext = NO_CONTEXT
    ) -> None:
        self.steps.append((index, response, usage))
        self.contexts.append(context)

    async def on_tool(self, index: int, call: ToolCall, result: ToolResult, *, elapsed: float = 0.0) -> None:
        self.tools.append((index, call, result))

    async def log_event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    async def close(self, stats: RunStats) -> None:
        self.closes.append(stats)
        _note(self.journal, "audit close")


def _note(journal: list[str] | None, what: str) -> None:
    if journal is not None:
        journal.append(what)


class RecordingAudit:
    def __init__(self, fail_start: bool = False, journal: list[str] | None = None) -> None:
        self.runs: dict[str, RecordedRun] = {}
        #: Runs the budget refused, with the refusal (they never start).
        self.rejections: list[tuple[RunInfo, str]] = []
        self.fail_start = fail_start
        self.journal = journal

    async def start_run(self, info: RunInfo) -> RecordedRun:
        if self.fail_start:
            raise RuntimeError("audit store is down")
        run = RecordedRun(info, journal=self.journal)
        self.runs[info.run_id] = run
        return run

    async def record_rejection(self, info: RunInfo, reason: str) -> None:
        self.rejections.append((info, reason))

    async def resume_run(self, run_id: str) -> RecordedRun:
        """The run's recorder again (a resumed run adds to its record)."""
        return self.runs[run_id]

    def only(self) -> RecordedRun:
        assert len(self.runs) == 1, f"expected one audited run, got {list(self.runs)}"
        return next(iter(self.runs.values()))


class RecordingBudget:
    """``committed`` is set on each commit, for tests that wait for one."""

    def __init__(self, reject: str = "", journal: list[str] | None = None) -> None:
        self.reject = reject
        self.journal = journal
        self.checks: list[str] = []
        self.inputs: list[str] = []
        self.commits: list[tuple[str, Spend]] = []
        self.committed = asyncio.Event()

    async def check(self, invocation: Invocation, agent_id: str) -> None:
        self.checks.append(invocation.run_id)
        self.inputs.append(invocation.input)
        if self.reject:
            raise BudgetExceeded(self.reject)

    async def commit(self, invocation: Invocation, spend: Spend) -> None:
        self.commits.append((invocation.run_id, spend))
        _note(self.journal, "budget commit")
        self.committed.set()


class MemoryPalette:
    def __init__(self, skills: Sequence[RunnableAgent] = (), agents: Sequence[RunnableAgent] = ()) -> None:
        self._skills = {a.id: a for a in skills}
        self._agents = {a.id: a for a in agents}

    def skill(self, name: str) -> RunnableAgent | None:
        return self._skills.get(name)

    def agent(self, name: str) -> RunnableAgent | None:
        return self._agents.get(name)


class RecordingDelivery:
    def __init__(self, fail: bool = False, journal: list[str] | None = None) -> None:
        self.delivered: list[tuple[Target, Result]] = []
        self.errors: list[tuple[Target, Result]] = []
        self.fail = fail
        self.journal = journal

    async def deliver(self, target: Target, result: Result) -> None:
        self.delivered.append((target, result))
        _note(self.journal, "deliver")
        if self.fail:
            raise RuntimeError("discord is down")

    async def deliver_error(self, target: Target, result: Result) -> None:
        self.errors.append((target, result))
        _note(self.journal, "deliver")
        if self.fail:
            raise RuntimeError("discord is down")


class ScriptedEscalator:
    """Answers escalations from a list of decisions (then ``continue``)."""

    def __init__(self, decisions: Sequence[CriticDecision]) -> None:
        self.decisions = list(decisions)
        self.reports: list[CriticReport] = []
        self.called = asyncio.Event()

    async def escalate(self, report: CriticReport) -> CriticDecision:
        self.reports.append(report)
        self.called.set()
        return self.decisions.pop(0) if self.decisions else CriticDecision("continue")
