"""Provider-neutral conversation types.

Providers translate these to and from their wire formats; the loop, the store
and the tools only ever see these.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson


@dataclass(frozen=True, slots=True)
class Image:
    """An image as bytes plus media type (``image/png`` ...).

    ``source`` is an optional reference (URL or attachment id) kept for the
    conversation store, so a follow-up can say where the image came from.
    """

    data: bytes
    media_type: str
    source: str = ""

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.b64()}"

    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call a model asked for. ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict.

        Raises ValueError with a message the model can act on when the text is
        not a JSON object (models do emit truncated or invalid JSON).
        """
        text = self.arguments.strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"arguments for {self.name!r} are not valid JSON ({exc.msg} at position {exc.pos}); "
                "send a JSON object matching the tool's schema"
            ) from None
        if not isinstance(value, dict):
            raise ValueError(f"arguments for {self.name!r} must be a JSON object, got {type(value).__name__}")
        return value

    def signature(self) -> str:
        """Name plus canonical arguments: the key of the repeated-call guard."""
        try:
            canonical = orjson.dumps(orjson.loads(self.arguments or "{}"), option=orjson.OPT_SORT_KEYS).decode()
        except ValueError:  # not JSON (orjson.JSONDecodeError)
            canonical = self.arguments.strip()
        return f"{self.name}:{canonical}"


@dataclass(frozen=True, slots=True)
class SystemMessage:
    content: str
    role: Literal["system"] = "system"


@dataclass(frozen=True, slots=True)
class UserMessage:
    content: str
    images: tuple[Image, ...] = ()
    role: Literal["user"] = "user"


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    """A model turn. ``reasoning``/``reasoning_signature`` carry Anthropic
    thinking blocks, which must be sent back unchanged with tool results."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    reasoning_signature: str = ""
    role: Literal["assistant"] = "assistant"


@dataclass(frozen=True, slots=True)
class ToolResultMessage:
    call_id: str
    name: str
    content: str
    is_error: bool = False
    images: tuple[Image, ...] = ()
    role: Literal["tool"] = "tool"


Message = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model sees of a tool: name, description, JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage. ``reasoning_tokens`` are included in ``output_tokens`` by
    OpenAI and reported separately here for budgets and audit.

    ``cost_micros`` is what the priced calls cost in micro-dollars and
    ``unpriced_calls`` counts the calls whose model has no known price: the
    executor fills both for every call (executor/spending.py), so a sum
    carries its money with its tokens. Providers leave them 0.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    requests: int = 0
    cost_micros: int = 0
    unpriced_calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.requests + other.requests,
            self.cost_micros + other.cost_micros,
            self.unpriced_calls + other.unpriced_calls,
        )

    @property
    def cost(self) -> int | None:
        """The cost in micro-dollars; None (unknown) when any call had no known price."""
        return None if self.unpriced_calls else self.cost_micros

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def estimate_tokens(messages: list[Message]) -> int:
    """A cheap prompt-size estimate (4 characters a token, 800 an image).

    Good enough to decide when to compact; providers report the real count.
    """
    chars = 0
    images = 0
    for m in messages:
        chars += len(m.content) if not isinstance(m, AssistantMessage) else len(m.content) + len(m.reasoning)
        if isinstance(m, AssistantMessage):
            chars += sum(len(c.name) + len(c.arguments) for c in m.tool_calls)
        if isinstance(m, UserMessage | ToolResultMessage):
            images += len(m.images)
    return chars // 4 + images * 800 + 4 * len(messages)
