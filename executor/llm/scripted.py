"""ScriptedModel: a first-class Model double for tests and demos.

It plays back a script of replies, one per call, and records every request
it received so a test can assert what the model saw. Script items are a
ModelResponse, an exception to raise, or a function of (messages, tools)
returning either (sync or async) for replies that depend on the conversation.

    model = ScriptedModel([call("calculator", expression="2+2"), text("4")])
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from executor.llm.model import ModelResponse, ToolChoice
from executor.llm.types import AssistantMessage, Message, ToolCall, ToolSpec, Usage

Reply = Callable[[list[Message], list[ToolSpec]], "ModelResponse | Awaitable[ModelResponse]"]
ScriptItem = ModelResponse | BaseException | Reply

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


@dataclass(frozen=True, slots=True)
class SeenRequest:
    messages: list[Message]
    tools: list[ToolSpec]
    tool_choice: ToolChoice


class ScriptedModel:
    """Plays back ``script``; raises ``ScriptExhausted`` when it runs out.

    ``repeat_last`` keeps answering with the last item (for long runs);
    ``delay`` seconds are slept before each reply (for timeouts and critics).
    """

    def __init__(
        self, script: Iterable[ScriptItem], *, name: str = "scripted", delay: float = 0.0, repeat_last: bool = False
    ) -> None:
        self._script = list(script)
        self._name = name
        self.delay = delay
        self.repeat_last = repeat_last
        self.requests: list[SeenRequest] = []

    @property
    def name(self) -> str:
        return self._name

    async def complete(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, tool_choice: ToolChoice = "auto"
    ) -> ModelResponse:
        seen = SeenRequest(list(messages), list(tools), tool_choice)
        self.requests.append(seen)
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._script:
            raise ScriptExhausted(f"{self._name}: no scripted reply left for call {len(self.requests)}")
        item = self._script[0] if self.repeat_last and len(self._script) == 1 else self._script.pop(0)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, ModelResponse):
            return item
        out = item(seen.messages, seen.tools)
        return await out if inspect.isawaitable(out) else out


class ScriptExhausted(AssertionError):
    """The scripted model was called more often than its script allows."""
