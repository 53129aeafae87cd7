"""The tracing port: spans around a run, its model calls and its tool calls.

A host that wants traces passes a :class:`Tracer`; one that does not passes
nothing and the executor uses :data:`NO_TRACING`, so the run path never
checks for None. The three spans are the GenAI semantic conventions'
``invoke_agent``, ``chat`` and ``execute_tool``; what a span records is
names, ids, counts and outcomes, never prompts, answers or tool arguments
(member content stays out of traces, as it stays out of metric labels).

Each method returns a context manager. An exception leaving it marks the
span failed and propagates unchanged; the span handle it yields records
what is known only at the end (usage, the run's status, a tool's outcome).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Protocol

from executor.llm.model import ForwardingModel, Model, ModelResponse
from executor.llm.types import Usage

#: The status a run span finishes with when the budget gate refused the run:
#: it never started (no model call, no audit recorder).
REJECTED = "rejected"


class RunSpan(Protocol):
    def finish(self, status: str, usage: Usage) -> None:
        """The run's terminal status (a ``RunStatus`` value, or :data:`REJECTED`)
        and its total usage. Called exactly once, on every path."""


class ModelCallSpan(Protocol):
    def record(self, usage: Usage) -> None:
        """The tokens this model call used."""


class ToolCallSpan(Protocol):
    def record(self, ok: bool) -> None:
        """Whether the tool's result was a success (``ToolResult.is_error`` is False)."""


class Tracer(Protocol):
    """The host's tracer. Its methods and span handles must not raise: the
    run path calls them outside any error handling of its own."""

    def invoke_agent(
        self, *, agent_id: str, agent_name: str, run_id: str, provider: str, model: str
    ) -> AbstractContextManager[RunSpan]:
        """Around one whole run, the budget gate included; model and tool spans
        opened inside it (and the runs it delegates to) are its children.
        ``provider`` and ``model`` are empty when the tier does not resolve."""

    def chat(self, *, provider: str, model: str) -> AbstractContextManager[ModelCallSpan]:
        """Around one model call (``provider`` as in ``ModelSpec``: openai, anthropic)."""

    def execute_tool(self, *, tool: str, call_id: str) -> AbstractContextManager[ToolCallSpan]:
        """Around one tool call, by the tool's registered name and the model's call id."""


class _Discard:
    """A span that records nothing: its own context manager and handle, one
    object for every span, since every model and tool call opens one."""

    def __enter__(self) -> _Discard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def finish(self, status: str, usage: Usage) -> None:
        pass

    def record(self, *args: object, **kwargs: object) -> None:
        pass


class NoTracing:
    """The Tracer of a host that traces nothing: every span is a no-op."""

    def invoke_agent(
        self, *, agent_id: str, agent_name: str, run_id: str, provider: str, model: str
    ) -> AbstractContextManager[RunSpan]:
        return _DISCARD

    def chat(self, *, provider: str, model: str) -> AbstractContextManager[ModelCallSpan]:
        return _DISCARD

    def execute_tool(self, *, tool: str, call_id: str) -> AbstractContextManager[ToolCallSpan]:
        return _DISCARD


_DISCARD = _Discard()

#: What the executor uses when the host passes no Tracer.
NO_TRACING: Tracer = NoTracing()


def split_model_name(name: str) -> tuple[str, str]:
    """``provider/model`` (a ``Model.name``) as its two parts; a name without
    a slash is a model of no known provider."""
    provider, slash, model = name.partition("/")
    return (provider, model) if slash else ("", name)


class TracedModel(ForwardingModel):
    """A Model whose every call is a ``chat`` span with the call's usage:
    the loop's turns, its last tool-less answer and compaction summaries."""

    def __init__(self, model: Model, tracer: Tracer) -> None:
        super().__init__(model)
        self._tracer = tracer
        self._provider, self._name = split_model_name(model.name)

    async def _forward(self, call: Callable[[], Awaitable[ModelResponse]]) -> ModelResponse:
        with self._tracer.chat(provider=self._provider, model=self._name) as span:
            response = await call()
            span.record(response.usage)
        return response
