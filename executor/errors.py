"""The executor's exception hierarchy.

Every failure inside a run ends up as one of these in ``Result.err`` (model
failures as ``executor.llm``'s ModelError, a subclass); the host turns them,
in one place, into one short line for the member.
"""

from __future__ import annotations


class ExecutorError(Exception):
    """Base class for run failures the executor reports in ``Result.err``."""


class BudgetExceeded(ExecutorError):
    """The budget gate refused the run; no model call was made.

    ``message`` is written for the member: it says which limit and when it resets.
    """


class ModelResolutionError(ExecutorError):
    """The tier could not be resolved to a model (unknown tier, no provider key)."""


class ToolboxError(ExecutorError):
    """The agent's toolbox could not be built (unknown tool, duplicate name)."""


class LoopGuardTripped(ExecutorError):
    """A loop guard stopped tool use; ``guard`` names which one, ``detail``
    says what it saw. The run still ends with a tool-less answer in
    ``Result.output``; this stays its error, so the audit records why."""

    def __init__(self, guard: str, detail: str) -> None:
        super().__init__(f"loop guard {guard!r} tripped: {detail}")
        self.guard = guard
        self.detail = detail


class RunTimeout(ExecutorError):
    """The run reached its own max_runtime."""


class RunCancelled(ExecutorError):
    """The run was cancelled by the member (cancel handle) or the process shutting down."""


class CriticKilled(ExecutorError):
    """The critic's escalator decided to kill a stalled run."""
