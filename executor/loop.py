"""The agent loop: steer -> compact -> model call -> concurrent tool dispatch
-> guards.

The loop owns the conversation and its running totals (compaction included,
since it rewrites the one and adds to the other); the executor reads them
even when the loop was cancelled part-way, which is how a timed-out or
cancelled run still reports partial output, steps and usage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from executor.compact import Compaction, CompactionEvent, MeteredModel
from executor.errors import LoopGuardTripped
from executor.llm.model import Model, ModelResponse, OnDelta, ToolChoice
from executor.llm.types import (
    AssistantMessage,
    Image,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from executor.record import CompactionEdit, RecordedStep, RunRecord
from executor.spending import BudgetReached
from executor.tools.base import ToolResult
from executor.tools.registry import Toolbox
from executor.tracing import NO_TRACING, Tracer

log = logging.getLogger(__name__)

_ANSWER_NOW = "Answer the user now with what you have found so far, and say what is left undone."
#: Sent with the last, tool-less model call when the step ceiling is reached.
CEILING_NOTE = f"You have reached the step limit for this run and can no longer call tools. {_ANSWER_NOW}"
#: Sent with the last, tool-less model call when a loop guard stops tool use.
GUARD_NOTE = "Tool use was stopped for this run: {detail}. You can no longer call tools. " + _ANSWER_NOW


class SteerMailbox:
    """Messages queued for the conversation, drained before every model call.

    It is the RunSession a SessionToolFactory receives: ``attach_images`` is the
    seam behind ``invocation.attach_images``.
    """

    def __init__(self) -> None:
        self._pending: list[Message] = []

    def attach_images(self, images: Sequence[Image], note: str = "") -> None:
        if images:
            self._pending.append(UserMessage(note or "Image(s) attached by a tool.", tuple(images)))

    def drain(self) -> list[Message]:
        out, self._pending = self._pending, []
        return out


@dataclass(frozen=True, slots=True)
class LoopLimits:
    max_consecutive_tool_errors: int
    max_same_tool_call_repeats: int


class LoopHooks(Protocol):
    """What the executor observes of the loop. Every method is awaited inline,
    so implementations must be quick (the host debounces its UI)."""

    @property
    def on_delta(self) -> OnDelta | None:
        """Where the model's answers stream to, as they are written; None: no streaming."""

    def ceiling(self) -> int:
        """The current step ceiling; the critic may raise it mid-run."""

    async def at_ceiling(self, index: int) -> bool:
        """Called when the ceiling is reached; True if it was extended."""

    def steer(self) -> list[Message]:
        """Messages to inject before the next model call (images, nudges)."""

    async def before_model(self, index: int) -> None:
        """A model call is about to be made (after steering, before compaction)."""

    async def compacted(self, event: CompactionEvent) -> None:
        """The conversation was compacted before a model call."""

    async def model_responded(
        self, index: int, response: ModelResponse, steer: Sequence[Message], compaction: CompactionEdit | None
    ) -> None:
        """The model asked for tools; they run once this returns (the host
        records the response here). ``steer`` and ``compaction`` are what
        changed the conversation just before the call. Not called for a
        response replayed from a RunRecord."""

    async def tool_started(self, index: int, call: ToolCall) -> None: ...

    async def tool_finished(self, index: int, call: ToolCall, result: ToolResult, replayed: bool = False) -> None:
        """A call returned (``replayed``: its result came from the RunRecord, it did not run)."""

    async def iteration_done(
        self,
        index: int,
        response: ModelResponse,
        calls: Sequence[ToolCall],
        results: Sequence[ToolResult],
        usage: Usage,
    ) -> None:
        """A turn's tools have all returned; ``usage`` is the run's total so far."""


class AgentLoop:
    """One run's conversation with the model. ``run`` raises on failure; the
    public attributes hold whatever was reached until then. ``compaction``
    None: the conversation is never compacted. ``replay``: the record of a
    run resumed after its process died; its recorded responses and tool
    results are used instead of calling the model and the tools, and the
    loop goes on live after them (see executor/record.py)."""

    def __init__(
        self,
        model: Model,
        toolbox: Toolbox,
        system_prompt: str,
        limits: LoopLimits,
        hooks: LoopHooks,
        compaction: Compaction | None = None,
        tracer: Tracer = NO_TRACING,
        replay: RunRecord | None = None,
    ) -> None:
        self.model = model
        self.tracer = tracer
        self._replay = replay or RunRecord()
        self.toolbox = toolbox
        self.limits = limits
        self.hooks = hooks
        self.compaction = compaction
        self.messages: list[Message] = [SystemMessage(system_prompt)] if system_prompt else []
        self.usage = Usage()
        self.output = ""
        self.ceiling_hit = False
        self._consecutive_errors = 0
        # The previous turn's calls and how many turns in a row made exactly them.
        self._last_turn: tuple[str, ...] = ()
        self._same_turns = 0
        #: Where this run's own messages begin (after the history and the input).
        self._own_from = 0

    async def run(self, user_input: str, history: Sequence[Message] = (), images: Sequence[Image] = ()) -> str:
        """Run to an answer. Raises LoopGuardTripped when a guard stops tool
        use, after the model has had its tool-less last turn (``output``
        holds that answer); raises whatever the model raises."""
        self.messages.extend(history)
        self.messages.append(UserMessage(user_input, tuple(images)))
        self._own_from = len(self.messages)
        index = 0
        while True:
            # A recorded step shows the ceiling let it through (the critic may have raised it).
            replayed = index in self._replay.steps
            if not replayed and index >= self.hooks.ceiling() and not await self.hooks.at_ceiling(index):
                self.ceiling_hit = True
                return await self._final_answer(index, CEILING_NOTE)
            response = await self._call_model(index, with_tools=True)
            calls = response.message.tool_calls
            if not calls:
                self.output = response.message.content
                return self.output
            results = await self._dispatch(index, calls)
            await self.hooks.iteration_done(index, response, calls, results, self.usage)
            index += 1
            try:
                self._check_guards(calls, results)
            except LoopGuardTripped as guard:
                await self._answer_after_guard(index, guard)
                raise

    async def _answer_after_guard(self, index: int, guard: LoopGuardTripped) -> None:
        """A guard stopped tool use; the member still gets the model's best
        answer. Best-effort: if this last call fails, the guard stays the
        run's error and the failure is only logged."""
        try:
            await self._final_answer(index, GUARD_NOTE.format(detail=guard.detail))
        except Exception:
            log.warning("the answer after loop guard %r failed", guard.guard, exc_info=True)

    async def _call_model(self, index: int, *, with_tools: bool) -> ModelResponse:
        recorded = self._replay.steps.get(index) if with_tools else None
        if recorded is not None:
            return await self._replayed(index, recorded)
        steer = self.hooks.steer()
        self.messages.extend(steer)
        await self.hooks.before_model(index)
        tools = self.toolbox.specs() if with_tools else ()
        choice: ToolChoice = "auto" if tools else "none"
        try:
            edit = await self._compact(self.compaction) if self.compaction is not None else None
            response = await self.model.complete(self.messages, tools, tool_choice=choice, on_delta=self.hooks.on_delta)
        except BudgetReached:
            # The member keeps what the model wrote before the money ran out.
            self.output = self.output or self._written_so_far()
            raise
        self.usage += response.usage
        self.messages.append(response.message)
        if with_tools and response.message.tool_calls:
            await self.hooks.model_responded(index, response, steer, edit)
        return response

    async def _replayed(self, index: int, step: RecordedStep) -> ModelResponse:
        """A recorded model call, replayed: the conversation changes as it did
        then (steering, compaction) and the recorded response is the answer."""
        context = step.context
        self.messages.extend(context.steer)
        await self.hooks.before_model(index)
        if context.compaction is not None:
            self.messages = context.compaction.apply(self.messages)
            self.usage += context.compaction.usage
        self.usage += step.usage
        self.messages.append(step.message)
        return ModelResponse(step.message, step.usage)

    def _written_so_far(self) -> str:
        """The newest text the model wrote in this run (beside its tool calls), or ""."""
        for message in reversed(self.messages[self._own_from :]):
            if isinstance(message, AssistantMessage) and message.content.strip():
                return message.content
        return ""

    async def _compact(self, compaction: Compaction) -> CompactionEdit | None:
        # The summary is a model call: what it spends is the run's, like any
        # other, even when the compactor fails afterwards.
        metered = MeteredModel(self.model)
        before = self.messages
        try:
            self.messages, event = await compaction.apply(self.messages, metered)
        finally:
            self.usage += metered.usage
        if event is None:
            return None
        await self.hooks.compacted(event)
        return CompactionEdit.between(before, self.messages, metered.usage)

    async def _final_answer(self, index: int, note: str) -> str:
        """One last call without tools (step ceiling, loop guard) so the member
        still gets an answer. Tool calls the model makes anyway are dropped."""
        self.messages.append(UserMessage(note))
        response = await self._call_model(index, with_tools=False)
        if response.message.tool_calls:
            self.messages[-1] = AssistantMessage(response.message.content, reasoning=response.message.reasoning)
        self.output = response.message.content
        return self.output

    async def _dispatch(self, index: int, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run one turn's calls concurrently; results come back in call order."""

        async def one(call: ToolCall) -> ToolResult:
            await self.hooks.tool_started(index, call)
            recorded = self._replay.results.get((index, call.id))
            if recorded is not None:  # it ran before the restart: its result is replayed
                await self.hooks.tool_finished(index, call, recorded, replayed=True)
                return recorded
            with self.tracer.execute_tool(tool=call.name, call_id=call.id) as span:
                result = await self.toolbox.call(call)
                span.record(not result.is_error)
            await self.hooks.tool_finished(index, call, result)
            return result

        # One call, the common case, needs no task of its own to run beside others.
        results = [await one(calls[0])] if len(calls) == 1 else list(await asyncio.gather(*map(one, calls)))
        for call, result in zip(calls, results, strict=True):
            self.messages.append(ToolResultMessage(call.id, call.name, result.content, result.is_error, result.images))
        return results

    def _check_guards(self, calls: Sequence[ToolCall], results: Sequence[ToolResult]) -> None:
        """Stop retry storms, not work: errors count only while they come in a
        row, and a turn counts as a repeat only when it makes exactly the
        previous turn's calls (same names, same canonical arguments). Any
        other turn in between, or changed arguments, resets the count, so a
        ``run_status`` checked now and then between other calls never trips."""
        for call, result in zip(calls, results, strict=True):
            self._consecutive_errors = self._consecutive_errors + 1 if result.is_error else 0
            if self._consecutive_errors >= self.limits.max_consecutive_tool_errors:
                raise LoopGuardTripped(
                    "consecutive_tool_errors",
                    f"{self._consecutive_errors} tool calls in a row failed (last: {call.name}: {result.content[:200]})",
                )
        turn = tuple(sorted(c.signature() for c in calls))
        self._same_turns = self._same_turns + 1 if turn == self._last_turn else 1
        self._last_turn = turn
        if self._same_turns >= self.limits.max_same_tool_call_repeats:
            names = ", ".join(sorted({c.name for c in calls}))
            raise LoopGuardTripped(
                "same_tool_call_repeats",
                f"{names} was called with the same arguments {self._same_turns} turns in a row",
            )
