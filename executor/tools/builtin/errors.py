"""Expected tool failures and how they reach the model.

A failure the model can act on (a refused URL, a bad argument) is raised as
ToolError anywhere in a tool and becomes an error result with the message
alone; anything else is a bug and the Toolbox reports it with its type.
"""

from __future__ import annotations

import functools
from typing import Any

from executor.tools.base import ToolHandler, ToolResult
from executor.tools.invocation import Invocation


class ToolError(Exception):
    """An expected failure; its message is written for the model."""


def reports_errors(handler: ToolHandler) -> ToolHandler:
    """Wrap a handler so a ToolError becomes ``ToolResult(..., is_error=True)``."""

    @functools.wraps(handler)
    async def wrapped(invocation: Invocation, args: dict[str, Any]) -> ToolResult | str:
        try:
            return await handler(invocation, args)
        except ToolError as exc:
            return ToolResult(f"error: {exc}", is_error=True)

    return wrapped
