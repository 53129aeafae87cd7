"""The Model protocol the agent loop talks to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from executor.llm.types import AssistantMessage, Message, ToolSpec, Usage

ToolChoice = Literal["auto", "none", "required"]


@dataclass(frozen=True, slots=True)
class ModelResponse:
    message: AssistantMessage
    usage: Usage
    stop_reason: str = ""


class Model(Protocol):
    """One chat model. Providers raise ``executor.llm.errors.ModelError``
    subclasses; the loop turns them into the run's error."""

    @property
    def name(self) -> str: ...

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        tool_choice: ToolChoice = "auto",
    ) -> ModelResponse: ...
