"""Context compaction: when the prompt nears the model's context window,
older turns are replaced by a summary.

The cut never separates an assistant's tool calls from their results: the
kept tail always starts at a user or assistant message, never at a tool
result. The executor logs each compaction as a ``compaction_fired`` event.
A summary is a model call like any other: the agent loop hands the compactor
a MeteredModel and charges what it spent to the run (usage, audit, budget).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from executor.llm.model import ForwardingModel, Model, ModelResponse
from executor.llm.types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
    estimate_tokens,
)

log = logging.getLogger(__name__)

SUMMARY_PROMPT = (
    "Summarise the conversation above for your own later use: the user's goal, facts found, "
    "tool results that matter, decisions made and what is still open. Be concise; plain text."
)
SUMMARY_PREFIX = "[Summary of the earlier conversation]\n"


@dataclass(frozen=True, slots=True)
class CompactionEvent:
    messages_before: int
    messages_after: int
    tokens_before: int
    tokens_after: int
    #: What the compactor's own model calls spent (charged to the run).
    input_tokens: int = 0
    output_tokens: int = 0


class Compactor(Protocol):
    async def compact(self, messages: list[Message], model: Model, threshold: int) -> list[Message]:
        """Return a shorter conversation, or ``messages`` itself when nothing
        can be cut. Must keep the leading system message."""


@dataclass(frozen=True, slots=True)
class Compaction:
    """One run's compaction: its compactor and the prompt size, in estimated
    tokens, at which it fires."""

    compactor: Compactor
    threshold: int

    async def apply(self, messages: list[Message], model: MeteredModel) -> tuple[list[Message], CompactionEvent | None]:
        """``messages`` compacted with ``model`` when they reach the threshold,
        and the event to record (None when nothing was cut). What the
        compactor spent is on ``model``, even when it raised."""
        before = estimate_tokens(messages)
        if before < self.threshold:
            return messages, None
        compacted = await self.compactor.compact(messages, model, self.threshold)
        if compacted is messages:
            return messages, None
        spent = model.usage
        after = estimate_tokens(compacted)
        return compacted, CompactionEvent(
            len(messages), len(compacted), before, after, spent.input_tokens, spent.output_tokens
        )


class MeteredModel(ForwardingModel):
    """A Model that totals the usage of the calls made through it, so the
    executor can charge a compactor's calls to the run."""

    def __init__(self, model: Model) -> None:
        super().__init__(model)
        self.usage = Usage()

    async def _forward(self, call: Callable[[], Awaitable[ModelResponse]]) -> ModelResponse:
        response = await call()
        self.usage += response.usage
        return response


def safe_cut(messages: Sequence[Message], start: int, keep_tokens: int) -> int:
    """The earliest index >= start whose tail fits ``keep_tokens`` and does not
    begin with a tool result; ``len(messages) - 1`` at the latest, so the
    newest message is always kept. Returns ``start`` when nothing can be cut."""
    best = len(messages) - 1
    for i in range(len(messages) - 1, start, -1):
        if isinstance(messages[i], ToolResultMessage):
            continue
        if estimate_tokens(list(messages[i:])) > keep_tokens:
            break
        best = i
    while best > start and isinstance(messages[best], ToolResultMessage):
        best -= 1
    return best


class SummaryCompactor:
    """Summarises the head with one tool-less call to the run's own model and
    keeps the most recent turns (up to ``keep_ratio`` of the threshold).

    If the summary call fails the head is dropped with a note instead, so a
    run is never lost to compaction.
    """

    def __init__(self, keep_ratio: float = 0.5) -> None:
        self.keep_ratio = keep_ratio

    async def compact(self, messages: list[Message], model: Model, threshold: int) -> list[Message]:
        start = 1 if messages and isinstance(messages[0], SystemMessage) else 0
        cut = safe_cut(messages, start, int(threshold * self.keep_ratio))
        if cut <= start:
            return messages
        head, tail = messages[start:cut], messages[cut:]
        summary = await self._summarise(messages[:start] + head, model)
        return [*messages[:start], UserMessage(SUMMARY_PREFIX + summary), *tail]

    async def _summarise(self, head: list[Message], model: Model) -> str:
        try:
            response = await model.complete([*head, UserMessage(SUMMARY_PROMPT)], (), tool_choice="none")
        except Exception as exc:
            log.warning("compaction summary failed (%s); dropping %d older messages", exc, len(head))
            return f"({len(head)} earlier messages were removed to fit the model's context.)"
        return response.message.content or _fallback_digest(head)


def _fallback_digest(head: Sequence[Message]) -> str:
    users = [m.content for m in head if isinstance(m, UserMessage)]
    answers = [m.content for m in head if isinstance(m, AssistantMessage) and m.content]
    return "Earlier requests: " + " | ".join(u[:200] for u in users[-3:]) + (
        ("\nEarlier answers: " + " | ".join(a[:200] for a in answers[-3:])) if answers else ""
    )
