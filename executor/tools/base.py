"""The Tool type: a JSON-schema description for the model plus an async handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from executor.llm.types import Image, ToolSpec
from executor.tools.invocation import Invocation


class Visibility(StrEnum):
    """Who may be given a tool.

    ``public`` tools may go to any agent, including ones server owners write;
    ``private`` tools only to agents built with private visibility (trusted,
    shipped with the bot). A toolbox built at ``private`` sees both.
    """

    PUBLIC = "public"
    PRIVATE = "private"

    def admits(self, tool_visibility: Visibility) -> bool:
        return self is Visibility.PRIVATE or tool_visibility is Visibility.PUBLIC


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a handler returns. ``is_error`` results are shown to the model so it
    can recover; ``images`` travel with the result to the model."""

    content: str
    is_error: bool = False
    images: tuple[Image, ...] = ()


ToolHandler = Callable[[Invocation, dict[str, Any]], Awaitable[ToolResult | str]]


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool. The handler gets the run's Invocation and the parsed arguments.

    A handler may raise: the Toolbox turns any exception into an error result
    the model reads, and stops a handler at ``timeout`` seconds.
    """

    name: str
    description: str
    handler: ToolHandler
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    visibility: Visibility = Visibility.PUBLIC
    timeout: float = 30.0

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)
