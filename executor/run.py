"""Executor, Config, Defaults, Result, RunnableAgent: the run contract.

A port of the Go executor's ``Run``: budget gate -> resolve model -> audit
start + run state -> steer mailbox -> toolbox -> delegation tools -> extra
tools -> session tools -> runtime bound + cancellation -> critic -> loop ->
PostRun -> audit close -> budget commit -> delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from executor.compact import Compactor
from executor.critic import Critic
from executor.delegation import add_delegation_tools
from executor.errors import (
    BudgetExceeded,
    CriticKilled,
    ExecutorError,
    ModelResolutionError,
    RunCancelled,
    RunTimeout,
)
from executor.llm.model import Model
from executor.llm.types import Message, Usage
from executor.loop import AgentLoop, LoopLimits, SteerMailbox
from executor.ports import Ports, RunInfo, RunRecorder, RunStats, Spend, Target
from executor.state import RunState
from executor.tools.base import Visibility
from executor.tools.invocation import Invocation, PostRunResult, SessionTools, Step
from executor.tools.registry import Registry

log = logging.getLogger(__name__)

#: Bound on post-run writes (audit close, budget commit, delivery) that run
#: detached from a cancelled caller, so shutdown cannot hang on them.
CLEANUP_TIMEOUT = 10.0

ModelResolver = Callable[[str], Model | None]
"""Resolves a tier alias (``fast``) or a ``provider/model`` spec to a Model.
Raises ModelResolutionError (or any error) when it cannot; returning None is
reported as a clean error too."""


class RunStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    KILLED = "killed"


@dataclass(frozen=True, slots=True)
class Defaults:
    """Fallback caps and loop guards, applied when an agent leaves a field zero."""

    max_iterations: int = 12
    max_runtime: float = 60.0
    fallback_tier: str = "fast"
    max_consecutive_tool_errors: int = 3
    max_same_tool_call_repeats: int = 3
    compaction_threshold_ratio: float = 0.7
    critic_soft_timeout: float = 90.0
    max_delegation_depth: int = 3

    def with_fallbacks(self) -> Defaults:
        """Non-positive fields take the Go fallbacks (``withFallbacks``)."""
        base = Defaults()
        return replace(
            self,
            max_iterations=self.max_iterations if self.max_iterations > 0 else base.max_iterations,
            max_runtime=self.max_runtime if self.max_runtime > 0 else base.max_runtime,
            fallback_tier=self.fallback_tier or base.fallback_tier,
            max_consecutive_tool_errors=self.max_consecutive_tool_errors
            if self.max_consecutive_tool_errors > 0
            else base.max_consecutive_tool_errors,
            max_same_tool_call_repeats=self.max_same_tool_call_repeats
            if self.max_same_tool_call_repeats > 0
            else base.max_same_tool_call_repeats,
            compaction_threshold_ratio=self.compaction_threshold_ratio
            if self.compaction_threshold_ratio > 0
            else base.compaction_threshold_ratio,
            critic_soft_timeout=self.critic_soft_timeout if self.critic_soft_timeout > 0 else base.critic_soft_timeout,
            max_delegation_depth=self.max_delegation_depth
            if self.max_delegation_depth > 0
            else base.max_delegation_depth,
        )


@dataclass(frozen=True, slots=True)
class RunnableAgent:
    """An agent as the executor runs it. Zero values fall back to Defaults.

    Skills are agents too: ``prompt_template`` (``str.format`` fields) and
    ``inputs_schema`` (JSON schema of the typed inputs) make the
    ``skill__NAME`` tool's parameters and the sub-run's input.
    """

    id: str
    name: str = ""
    description: str = ""
    system_prompt: str = ""
    tier: str = ""
    tools: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    max_iterations: int = 0
    max_runtime: float = 0.0
    critic: bool = False
    visibility: Visibility = Visibility.PUBLIC
    inputs_schema: dict[str, Any] | None = None
    prompt_template: str = ""


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
