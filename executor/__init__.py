"""executus's agent runtime: a Python port of the Go executor.

It imports nothing from ``discord``, ``bot`` or ``cogs``; the host plugs in
through the Protocols in :mod:`executor.ports`.
"""

from __future__ import annotations

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
from executor.run import Config, Defaults, Executor, Result, RunnableAgent, RunStatus

__all__ = [
    "BudgetExceeded",
    "Config",
    "CriticKilled",
    "Defaults",
    "Executor",
    "ExecutorError",
    "LoopGuardTripped",
    "ModelResolutionError",
    "Result",
    "RunCancelled",
    "RunStatus",
    "RunTimeout",
    "RunnableAgent",
    "ToolboxError",
]
