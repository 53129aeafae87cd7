"""Tools: the Tool type, the Registry agents draw from, the per-run Toolbox,
and the Invocation a run is started with."""

from __future__ import annotations

from executor.tools.base import Tool, ToolHandler, ToolResult, Visibility
from executor.tools.invocation import (
    Artifact,
    CancelHandle,
    Invocation,
    PostRunResult,
    RunSession,
    SessionToolFactory,
    SessionTools,
    Step,
    StepEvent,
)
from executor.tools.registry import Registry, Toolbox

__all__ = [
    "Artifact",
    "CancelHandle",
    "Invocation",
    "PostRunResult",
    "Registry",
    "RunSession",
    "SessionToolFactory",
    "SessionTools",
    "Step",
    "StepEvent",
    "Tool",
    "ToolHandler",
    "ToolResult",
    "Toolbox",
    "Visibility",
]
