"""Config and Defaults: how an Executor is wired, and the caps a run falls
back to when its agent leaves them zero."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from executor.compact import Compactor
from executor.llm.model import Model
from executor.ports import Ports
from executor.spending import Tariffs
from executor.tools.registry import Registry

ModelResolver = Callable[[str], Model | None]
"""Resolves a tier alias (``fast``) or a ``provider/model`` spec to a Model.
Raises ModelResolutionError (or any error) when it cannot; returning None is
reported as a clean error too."""


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


@dataclass(slots=True)
class Config:
    """Wires an Executor. ``registry`` and ``models`` are required; everything
    else is optional and None-safe: beyond those two, the default Config runs
    a bounded in-memory run with no audit, budget, critic, delegation or
    compaction."""

    registry: Registry
    models: ModelResolver
    defaults: Defaults = field(default_factory=Defaults)
    ports: Ports = field(default_factory=Ports)
    compactor: Compactor | None = None
    context_tokens: Callable[[str], int] | None = None
    system_header: str = ""
    #: What each tier's calls cost (executor/spending.py). None with no
    #: ``Ports.calls``: no money is counted; None with one: every call is unpriced.
    tariffs: Tariffs | None = None
