"""Anthropic Messages API provider.

Wire-format notes that shaped the translation:

* system messages before the first turn become the top-level ``system``;
  later ones (nudges) stay in place as user text, since the API has no
  mid-conversation system role;
* consecutive same-role turns are merged, so all tool results of one
  assistant turn travel in one user message, tool_result blocks first, and a
  user message right after tool results joins them;
* tool_result content can hold images, so tool images stay with their result;
* extended-thinking blocks are sent back unchanged (text and signature) on
  the assistant turn, which the API requires while a tool loop is running;
  reasoning without a signature (from another provider) is not sent;
* ``input_tokens`` in :class:`Usage` includes cache reads and writes, so it
  means "prompt size" for every provider, as OpenAI's ``prompt_tokens`` does;
* with thinking enabled the API refuses forced tool use, so ``required``
  falls back to ``auto`` there;
* a streamed call's events are folded back into the unstreamed message
  (tool input parsed from its JSON fragments, usage from ``message_start``
  updated by ``message_delta``'s cumulative counts), so both parse alike.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx

from executor.llm.errors import ProviderInfo, malformed_response
from executor.llm.http import (
    HTTPChatModel,
    ProviderTransport,
    RetryPolicy,
    Sleep,
    StreamAssembler,
    StreamErrorEvent,
    json_int,
    json_object,
)
from executor.llm.model import ModelResponse, OnDelta, TextDelta, ToolCallDelta, ToolChoice
from executor.llm.types import (
    AssistantMessage,
    Image,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
)

ANTHROPIC = ProviderInfo(name="anthropic", key_env="ANTHROPIC_API_KEY", base_url_env="ANTHROPIC_BASE_URL")
DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"

_TOOL_CHOICE = {"auto": "auto", "required": "any", "none": "none"}


#: Block delta type -> the block type it belongs to and the field carrying its fragment.
_DELTAS = {
    "text_delta": ("text", "text"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("thinking", "signature"),
    "input_json_delta": ("tool_use", "partial_json"),
}


class AnthropicStream(StreamAssembler):
    """Messages API events folded back into one ``message``: ``message_start``
    brings the usage so far, ``content_block_start``/``_delta`` build each
    block (text, thinking and its signature, tool_use from ``input_json_delta``
    fragments), ``message_delta`` brings the stop reason and cumulative
    usage, ``message_stop`` ends it; ``ping`` and unknown events are skipped."""

    info = ANTHROPIC

    def __init__(self, on_delta: OnDelta) -> None:
        super().__init__(on_delta)
        self._blocks: dict[int, dict[str, Any]] = {}
        # Fragments by (block index, field), joined once at the end: answers run to many thousand.
        self._parts: dict[tuple[int, str], list[str]] = {}
        self._tool_calls = 0
        self._stop_reason: Any = None
        self._usage: dict[str, Any] = {}

    def feed(self, data: str) -> None:
        event = self.event_json(data)
        match event.get("type"):
            case "error":
                raise StreamErrorEvent(event.get("error"))
            case "message_start":
                self._add_usage(json_object(event.get("message")).get("usage"))
            case "content_block_start":
                self._start(json_int(event.get("index")), json_object(event.get("content_block")))
            case "content_block_delta":
                self._fragment(json_int(event.get("index")), json_object(event.get("delta")))
            case "message_delta":
                self._stop_reason = json_object(event.get("delta")).get("stop_reason") or self._stop_reason
                self._add_usage(event.get("usage"))
            case "message_stop":
                self.finished = True

    def _start(self, index: int, block: dict[str, Any]) -> None:
        self._blocks[index] = block
        if block.get("type") == "tool_use":
            self.deliver(ToolCallDelta(self._tool_calls, str(block.get("name") or "")))
            self._tool_calls += 1

    def _fragment(self, index: int, delta: dict[str, Any]) -> None:
        kind = delta.get("type")
        if kind not in _DELTAS:
            return  # citations and future delta types carry nothing we keep
        block_type, field = _DELTAS[str(kind)]
        self._blocks.setdefault(index, {"type": block_type})
        part = delta.get(field)
        if isinstance(part, str) and part:
            self._parts.setdefault((index, field), []).append(part)
            if kind == "text_delta":
                self.deliver(TextDelta(part))

    def _add_usage(self, usage: Any) -> None:
        # message_delta's counts are cumulative: each replaces the one before.
        self._usage.update((k, v) for k, v in json_object(usage).items() if v is not None)

    def body(self) -> dict[str, Any]:
        content = []
        for index, start in sorted(self._blocks.items()):
            block = dict(start)
            for field in ("text", "thinking", "signature"):
                if (index, field) in self._parts:
                    block[field] = str(block.get(field) or "") + "".join(self._parts[index, field])
            if (index, "partial_json") in self._parts:
                block["input"] = _streamed_input("".join(self._parts[index, "partial_json"]))
            content.append(block)
        return {"content": content, "stop_reason": self._stop_reason, "usage": self._usage}


def _streamed_input(text: str) -> Any:
    """A tool_use input from its JSON fragments: the object, or the text when
    it is not one (cut off by ``max_tokens``), which the toolbox reports."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, dict) else text


class AnthropicModel(HTTPChatModel):
    """A Messages API model on a shared ``httpx.AsyncClient``.

    ``thinking_budget`` > 0 enables extended thinking with that many tokens;
    it must be below ``max_tokens``, which bounds thinking plus answer.
    """

    provider = "anthropic"
    stream_fields = {"stream": True}
    stream_assembler = AnthropicStream

    def __init__(
        self,
        client: httpx.AsyncClient,
        model: str,
        api_key: str = "",
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_tokens: int = 8192,
        thinking_budget: int = 0,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if thinking_budget and thinking_budget >= max_tokens:
            raise ValueError(f"thinking_budget ({thinking_budget}) must be below max_tokens ({max_tokens})")
        self.model = model
        self.url = base_url.rstrip("/") + "/v1/messages"
        self.max_tokens = max_tokens
        self.thinking_budget = thinking_budget
        self._headers = {"anthropic-version": API_VERSION}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._http = ProviderTransport(client, ANTHROPIC, api_key=api_key, timeout=timeout, retry=retry, sleep=sleep)

    def request_body(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, tool_choice: ToolChoice = "auto"
    ) -> dict[str, Any]:
        """The Messages API JSON for one call."""
        system, turns = to_anthropic_messages(messages)
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "messages": turns}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
            ]
            if self.thinking_budget and tool_choice == "required":
                tool_choice = "auto"
            body["tool_choice"] = {"type": _TOOL_CHOICE[tool_choice]}
        if self.thinking_budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
        return body

    def _parse(self, data: dict[str, Any]) -> ModelResponse:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise malformed_response(ANTHROPIC, "no content blocks")
        text: list[str] = []
        calls: list[ToolCall] = []
        reasoning: list[str] = []
        signature = ""
        for block in blocks:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                text.append(str(block.get("text") or ""))
            elif kind == "tool_use":
                calls.append(_tool_call(block, len(calls)))
            elif kind == "thinking":
                reasoning.append(str(block.get("thinking") or ""))
                signature = signature or str(block.get("signature") or "")
        return ModelResponse(
            message=AssistantMessage(
                content="".join(text),
                tool_calls=tuple(calls),
                reasoning="\n\n".join(reasoning),
                reasoning_signature=signature,
            ),
            usage=_usage(data.get("usage")),
            stop_reason=str(data.get("stop_reason") or ""),
        )


def to_anthropic_messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The top-level system prompt and the turns, per the module notes."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage) and not turns:
            system.append(m.content)
            continue
        role, blocks = _blocks(m)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            blocks = turns[-1]["content"] + blocks
            turns[-1]["content"] = sorted(blocks, key=lambda b: b["type"] != "tool_result")  # results first
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(s for s in system if s), turns


def _blocks(m: Message) -> tuple[str, list[dict[str, Any]]]:
    match m:
        case SystemMessage():
            return "user", _text(m.content)
        case UserMessage():
            return "user", [*map(_image_block, m.images), *_text(m.content)]
        case AssistantMessage():
            blocks: list[dict[str, Any]] = []
            if m.reasoning_signature:
                blocks.append({"type": "thinking", "thinking": m.reasoning, "signature": m.reasoning_signature})
            blocks += _text(m.content)
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c)} for c in m.tool_calls]
            return "assistant", blocks
        case ToolResultMessage():
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.call_id, "is_error": m.is_error}
            content = [*_text(m.content), *map(_image_block, m.images)]
            if content:
                result["content"] = content
            return "user", [result]
    raise TypeError(f"not a message: {m!r}")


def _text(text: str) -> list[dict[str, Any]]:
    """A text block, or none: the API rejects empty text blocks."""
    return [{"type": "text", "text": text}] if text else []


def _image_block(image: Image) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.b64()}}


def _input(call: ToolCall) -> dict[str, Any]:
    """``tool_use.input`` must be an object. Arguments that are not one (a
    model's invalid JSON) are kept as text so the turn stays truthful."""
    try:
        value = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return {"_invalid_json": call.arguments}
    return value if isinstance(value, dict) else {"_invalid_json": call.arguments}


def _tool_call(block: dict[str, Any], index: int) -> ToolCall:
    raw = block.get("input")
    arguments = raw if isinstance(raw, str) else json.dumps(raw if raw is not None else {}, ensure_ascii=False)
    return ToolCall(id=str(block.get("id") or f"toolu_{index}"), name=str(block.get("name") or ""), arguments=arguments)


def _usage(raw: Any) -> Usage:
    usage = json_object(raw)
    cache_read = json_int(usage.get("cache_read_input_tokens"))
    cache_write = json_int(usage.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=json_int(usage.get("input_tokens")) + cache_read + cache_write,
        output_tokens=json_int(usage.get("output_tokens")),
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
        requests=1,
    )
