"""Tools: public face of the tool side of the runtime.

- ``base``: Tool (a JSON schema for the model and an async handler),
  ToolResult, Visibility;
- ``invocation``: the Invocation a run starts with (frozen: built once;
  ``new_run_id`` lets a host show the id before the run), the files a member
  attached, the StepEvents it reports and the Steps it records;
- ``session``: session tools, minted for one run, with its PostRun and
  Cleanup hooks and the Artifacts PostRun hands the host;
- ``registry``: the Registry of every tool the host offers, the Toolbox of
  one run;
- ``builtin/``: the tools executus ships (a face of its own).
"""

from __future__ import annotations

from executor.tools.base import Tool, ToolHandler, ToolResult, Visibility
from executor.tools.invocation import AttachedFile, CancelHandle, Invocation, OnStep, Step, StepEvent, new_run_id
from executor.tools.registry import Registry, Toolbox
from executor.tools.session import (
    Artifact,
    PostRunResult,
    RunSession,
    SessionToolFactory,
    SessionTools,
)

__all__ = [
    "Artifact",
    "AttachedFile",
    "CancelHandle",
    "Invocation",
    "OnStep",
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
    "new_run_id",
]
