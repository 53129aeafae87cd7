"""The Model protocol the agent loop talks to, and the deltas of a streamed answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from executor.llm.types import AssistantMessage, Message, ToolSpec, Usage

ToolChoice = Literal["auto", "none", "required"]


@dataclass(frozen=True, slots=True)
class ModelResponse:
    message: AssistantMessage
    usage: Usage
    stop_reason: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Answer text the model has just written, to append to what came before."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """The model has begun a tool call: it is choosing ``name``. ``index`` is
    the call's place among this turn's calls (parallel calls count 0, 1, ...).
    Its arguments are still being written; they arrive with the response."""

    index: int
    name: str


StreamDelta = TextDelta | ToolCallDelta
OnDelta = Callable[[StreamDelta], None]


class Model(Protocol):
    """One chat model. Providers raise ``executor.llm.errors.ModelError``
    subclasses; the loop turns them into the run's error.

    ``on_delta`` asks for the answer as it is written (the contract is in
    the :mod:`executor.llm` docstring). Without it the call is the plain
    request/response one; with it the returned response is the same one.
    """

    @property
    def name(self) -> str: ...

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        tool_choice: ToolChoice = "auto",
        on_delta: OnDelta | None = None,
    ) -> ModelResponse: ...


class ForwardingModel:
    """A Model that passes every call on to ``model`` through ``_forward``:
    the base of the executor's wrappers (metering a compactor's calls,
    tracing every call), which override ``_forward`` alone."""

    def __init__(self, model: Model) -> None:
        self._model = model

    @property
    def name(self) -> str:
        return self._model.name

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        tool_choice: ToolChoice = "auto",
        on_delta: OnDelta | None = None,
    ) -> ModelResponse:
        return await self._forward(
            lambda: self._model.complete(messages, tools, tool_choice=tool_choice, on_delta=on_delta)
        )

    async def _forward(self, call: Callable[[], Awaitable[ModelResponse]]) -> ModelResponse:
        return await call()
