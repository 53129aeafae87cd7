"""ScriptedModel: a first-class Model double for tests and demos.

It plays back a script of replies, one per call, and records every request
it received so a test can assert what the model saw. Script items are a
ModelResponse, an exception to raise, a :func:`cut_off` stream, or a function
of (messages, tools) returning either (sync or async) for replies that depend
on the conversation.

    model = ScriptedModel([call("calculator", expression="2+2"), text("4")])

Asked to stream (``on_delta``), it delivers a reply's text in
``chunk_chars``-sized pieces, then each tool call's name, yielding to the
event loop between pieces as a network stream would; ``cut_off("Half an")``
delivers that much and then fails as a broken stream does.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from executor.llm.errors import StreamInterruptedError
from executor.llm.model import ModelResponse, OnDelta, TextDelta, ToolCallDelta, ToolChoice
from executor.llm.types import AssistantMessage, Message, ToolCall, ToolSpec, Usage


@dataclass(frozen=True, slots=True)
class CutOff:
    """A stream that breaks off after ``partial`` (see :func:`cut_off`)."""

    partial: str


Reply = Callable[[list[Message], list[ToolSpec]], "ModelResponse | Awaitable[ModelResponse]"]
ScriptItem = ModelResponse | BaseException | CutOff | Reply

_ids = itertools.count(1)


def text(content: str, usage: Usage | None = None) -> ModelResponse:
    """A final answer."""
    return ModelResponse(AssistantMessage(content), usage or Usage(10, 5, requests=1), "stop")


def tool_call(name: str, arguments: dict[str, Any] | str | None = None, call_id: str = "") -> ToolCall:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall(call_id or f"call_{next(_ids)}", name, args)


def calls(*tool_calls: ToolCall, content: str = "", usage: Usage | None = None) -> ModelResponse:
    """A turn with one or more (parallel) tool calls."""
    return ModelResponse(AssistantMessage(content, tuple(tool_calls)), usage or Usage(10, 5, requests=1), "tool_calls")


def call(name: str, usage: Usage | None = None, **arguments: Any) -> ModelResponse:
    """A turn with a single tool call."""
    return calls(tool_call(name, arguments), usage=usage)


def cut_off(partial: str) -> CutOff:
    """A call that fails with ``StreamInterruptedError``, after delivering
    ``partial`` when it streams (as a dropped connection does)."""
    return CutOff(partial)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    messages: list[Message]
    tools: list[ToolSpec]
    tool_choice: ToolChoice
    streamed: bool = False


class ScriptedModel:
    """Plays back ``script``; raises ``ScriptExhausted`` when it runs out.

    ``repeat_last`` keeps answering with the last item (for long runs);
    ``delay`` seconds are slept before each reply (for timeouts and critics);
    ``chunk_chars`` is the size of the text pieces a streamed reply delivers.
    """

    def __init__(
        self,
        script: Iterable[ScriptItem],
        *,
        name: str = "scripted",
        delay: float = 0.0,
        repeat_last: bool = False,
        chunk_chars: int = 8,
    ) -> None:
        if chunk_chars < 1:
            raise ValueError(f"chunk_chars must be at least 1, got {chunk_chars}")
        self._script = list(script)
        self._name = name
        self.delay = delay
        self.repeat_last = repeat_last
        self.chunk_chars = chunk_chars
        self.requests: list[SeenRequest] = []

    @property
    def name(self) -> str:
        return self._name

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        tool_choice: ToolChoice = "auto",
        on_delta: OnDelta | None = None,
    ) -> ModelResponse:
        seen = SeenRequest(list(messages), list(tools), tool_choice, streamed=on_delta is not None)
        self.requests.append(seen)
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._script:
            raise ScriptExhausted(f"{self._name}: no scripted reply left for call {len(self.requests)}")
        item = self._script[0] if self.repeat_last and len(self._script) == 1 else self._script.pop(0)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, CutOff):
            if on_delta is not None:
                await self._deliver(AssistantMessage(item.partial), on_delta)
            raise StreamInterruptedError(
                f"{self._name} broke off its answer midway (scripted): the partial answer was dropped; try again",
                provider=self._name,
            )
        if isinstance(item, ModelResponse):
            response = item
        else:
            out = item(seen.messages, seen.tools)
            response = await out if inspect.isawaitable(out) else out
        if on_delta is not None:
            await self._deliver(response.message, on_delta)
        return response

    async def _deliver(self, message: AssistantMessage, on_delta: OnDelta) -> None:
        """The message as a stream: its text in pieces, then its tool calls' names."""
        text = message.content
        for start in range(0, len(text), self.chunk_chars):
            on_delta(TextDelta(text[start : start + self.chunk_chars]))
            await asyncio.sleep(0)
        for index, call in enumerate(message.tool_calls):
            on_delta(ToolCallDelta(index, call.name))
            await asyncio.sleep(0)


class ScriptExhausted(AssertionError):
    """The scripted model was called more often than its script allows."""
