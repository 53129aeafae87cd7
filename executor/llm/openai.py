"""OpenAI chat-completions provider; with ``base_url`` also Ollama, vLLM, LM Studio.

Wire-format notes that shaped the translation:

* tool messages cannot carry images, so images in tool results go into one
  user message placed after the whole run of tool messages (a user message
  between tool messages would orphan the remaining tool_call ids);
* tool-call ``arguments`` stay the model's raw text in both directions, even
  when it is not valid JSON: the toolbox reports that to the model as a tool
  error, which it can correct, instead of the provider failing the run;
* ``parallel_tool_calls`` and ``tool_choice`` are only sent with tools, since
  the API rejects them otherwise;
* without an API key no Authorization header is sent (local servers);
* a streamed call asks for ``stream_options.include_usage``, so the last
  chunk carries the usage (without it a stream reports none); the chunks are
  folded back into the unstreamed message, so both parse alike.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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

OPENAI = ProviderInfo(name="openai", key_env="OPENAI_API_KEY", base_url_env="OPENAI_BASE_URL")
DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(slots=True)
class _StreamedCall:
    id: str = ""
    name: str = ""
    arguments: list[str] | None = None  # None: the stream sent no arguments at all


class OpenAIStream(StreamAssembler):
    """Chat-completion chunks folded back into one ``chat.completion``:
    ``delta.content`` (and ``refusal``, ``reasoning_content``) appended,
    ``delta.tool_calls`` gathered by ``index`` with their argument fragments
    joined, the ``finish_reason``, and the usage chunk. ``[DONE]`` ends it."""

    info = OPENAI

    def __init__(self, on_delta: OnDelta) -> None:
        super().__init__(on_delta)
        self._text: dict[str, list[str]] = {"content": [], "refusal": [], "reasoning": []}
        self._calls: dict[int, _StreamedCall] = {}
        self._finish_reason: Any = None
        self._usage: Any = None

    def feed(self, data: str) -> None:
        if data == "[DONE]":
            self.finished = True
            return
        chunk = self.event_json(data)
        if "error" in chunk:
            raise StreamErrorEvent(chunk["error"])
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():  # one at most: ``n`` is never asked for
            choice = json_object(choice)
            self._finish_reason = choice.get("finish_reason") or self._finish_reason
            self._add(json_object(choice.get("delta")))

    def _add(self, delta: dict[str, Any]) -> None:
        for key, part in (
            ("content", delta.get("content")),
            ("refusal", delta.get("refusal")),
            ("reasoning", delta.get("reasoning_content") or delta.get("reasoning")),
        ):
            if isinstance(part, str) and part:
                self._text[key].append(part)
                if key != "reasoning":
                    self.deliver(TextDelta(part))
        for raw in delta.get("tool_calls") or ():
            fragment = json_object(raw)
            index = json_int(fragment.get("index"))
            call = self._calls.setdefault(index, _StreamedCall())
            function = json_object(fragment.get("function"))
            call.id = call.id or str(fragment.get("id") or "")
            if not call.name and function.get("name"):
                call.name = str(function["name"])
                self.deliver(ToolCallDelta(index, call.name))
            arguments = function.get("arguments")
            if arguments is not None:
                call.arguments = [] if call.arguments is None else call.arguments
                call.arguments.append(
                    arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
                )

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self._text["content"]) or None,
            "refusal": "".join(self._text["refusal"]) or None,
            "reasoning_content": "".join(self._text["reasoning"]) or None,
        }
        if self._calls:
            message["tool_calls"] = [
                {
                    "id": call.id or None,
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": None if call.arguments is None else "".join(call.arguments),
                    },
                }
                for _, call in sorted(self._calls.items())
            ]
        return {
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish_reason}],
            "usage": self._usage,
        }


class OpenAIChatModel(HTTPChatModel):
    """A chat-completions model on a shared ``httpx.AsyncClient``."""

    provider = "openai"
    stream_fields = {"stream": True, "stream_options": {"include_usage": True}}
    stream_assembler = OpenAIStream

    def __init__(
        self,
        client: httpx.AsyncClient,
        model: str,
        api_key: str = "",
        base_url: str = DEFAULT_BASE_URL,
        *,
        parallel_tool_calls: bool = True,
        max_completion_tokens: int | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.parallel_tool_calls = parallel_tool_calls
        self.max_completion_tokens = max_completion_tokens
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = ProviderTransport(client, OPENAI, api_key=api_key, timeout=timeout, retry=retry, sleep=sleep)

    def request_body(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, tool_choice: ToolChoice = "auto"
    ) -> dict[str, Any]:
        """The chat-completions JSON for one call."""
        body: dict[str, Any] = {"model": self.model, "messages": to_chat_messages(messages)}
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
            body["tool_choice"] = tool_choice
            body["parallel_tool_calls"] = self.parallel_tool_calls
        if self.max_completion_tokens is not None:
            body["max_completion_tokens"] = self.max_completion_tokens
        return body

    def _parse(self, data: dict[str, Any]) -> ModelResponse:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise malformed_response(OPENAI, "no choices")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise malformed_response(OPENAI, "choice without a message")
        calls = tuple(_tool_call(raw, i) for i, raw in enumerate(message.get("tool_calls") or ()))
        content = message.get("content") or message.get("refusal") or ""
        # Compatible servers (DeepSeek, vLLM, Ollama) return visible reasoning here.
        reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
        return ModelResponse(
            message=AssistantMessage(
                content=content if isinstance(content, str) else "",
                tool_calls=calls,
                reasoning=reasoning if isinstance(reasoning, str) else "",
            ),
            usage=_usage(data.get("usage")),
            stop_reason=str(choices[0].get("finish_reason") or ""),
        )


def to_chat_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Our messages as chat-completions messages (see the module notes)."""
    out: list[dict[str, Any]] = []
    pending_images: list[dict[str, Any]] = []
    for m in messages:
        kind = type(m)
        if pending_images and kind is not ToolResultMessage:
            out.append({"role": "user", "content": pending_images})
            pending_images = []
        # By type, not by match: the whole conversation is converted on every call.
        out.append(_CONVERT[kind](m))
        if isinstance(m, ToolResultMessage) and m.images:
            label = f"Images returned by tool {m.name} (call {m.call_id}):"
            pending_images += [{"type": "text", "text": label}, *map(_image_part, m.images)]
    if pending_images:
        out.append({"role": "user", "content": pending_images})
    return out


def _system(m: SystemMessage) -> dict[str, Any]:
    return {"role": "system", "content": m.content}


def _user(m: UserMessage) -> dict[str, Any]:
    return {"role": "user", "content": _user_content(m.content, m.images)}


def _tool_result(m: ToolResultMessage) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": m.call_id, "content": m.content}


def _user_content(text: str, images: tuple[Image, ...]) -> str | list[dict[str, Any]]:
    if not images:
        return text
    parts = [{"type": "text", "text": text}] if text else []
    return parts + [_image_part(image) for image in images]


def _image_part(image: Image) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image.data_url()}}


def _assistant(m: AssistantMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    if m.content or not m.tool_calls:
        out["content"] = m.content
    if m.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    return out


_CONVERT: dict[type, Callable[[Any], dict[str, Any]]] = {
    SystemMessage: _system,
    UserMessage: _user,
    AssistantMessage: _assistant,
    ToolResultMessage: _tool_result,
}


def _tool_call(raw: Any, index: int) -> ToolCall:
    """One tool call from the response; ``arguments`` is kept verbatim, never parsed."""
    call = json_object(raw)
    function = json_object(call.get("function"))
    arguments = function.get("arguments")
    if arguments is None:
        arguments = "{}"
    elif not isinstance(arguments, str):  # some compatible servers send an object
        arguments = json.dumps(arguments, ensure_ascii=False)
    return ToolCall(
        id=str(call.get("id") or f"call_{index}"), name=str(function.get("name") or ""), arguments=arguments
    )


def _usage(raw: Any) -> Usage:
    usage = json_object(raw)
    completion = json_object(usage.get("completion_tokens_details"))
    prompt = json_object(usage.get("prompt_tokens_details"))
    return Usage(
        input_tokens=json_int(usage.get("prompt_tokens")),
        output_tokens=json_int(usage.get("completion_tokens")),
        reasoning_tokens=json_int(completion.get("reasoning_tokens")),
        cached_tokens=json_int(prompt.get("cached_tokens")),
        requests=1,
    )
