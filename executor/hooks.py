"""RunHooks: the executor's side of one run's agent loop.

What the loop reports goes to the places that follow a run: the live progress
observer (``invocation.on_step``), the critic's activity clock, the run state
a self-status tool reads, the audit trail and the Result's steps. Everything
it needs is built before it, so nothing here is optional but the audit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import asdict
from typing import Literal

from executor.compact import CompactionEvent
from executor.critic import Critic, LogEvent
from executor.llm.model import ModelResponse, OnDelta, StreamDelta
from executor.llm.types import Message, ToolCall, Usage
from executor.loop import SteerMailbox
from executor.ports import RunRecorder
from executor.record import CompactionEdit, StepContext
from executor.state import RunState
from executor.tools.base import ToolResult
from executor.tools.invocation import OnStep, Step, StepEvent

log = logging.getLogger(__name__)


class RunHooks:
    """The LoopHooks of one run. Every method is awaited inline by the loop."""

    def __init__(
        self,
        *,
        critic: Critic,
        state: RunState,
        mailbox: SteerMailbox,
        recorder: RunRecorder | None,
        log_event: LogEvent,
        on_step: OnStep | None,
        steps: list[Step],
        on_delta: OnDelta | None = None,
    ) -> None:
        self._critic = critic
        self._state = state
        self._mailbox = mailbox
        self._recorder = recorder
        self._log_event = log_event
        self._on_step = on_step
        #: The Result's steps, appended to as each turn's tools return.
        self._steps = steps
        self._host_delta = on_delta
        self._delta_failed = False

    @property
    def on_delta(self) -> OnDelta | None:
        return self._delta if self._host_delta is not None else None

    def _delta(self, delta: StreamDelta) -> None:
        """A streamed piece of answer: activity for the critic (a long answer
        being written is not idleness), then the host's. A failing host
        observer never fails the run: the answer still comes whole at the end."""
        self._critic.touch()
        if self._host_delta is None or self._delta_failed:
            return
        try:
            self._host_delta(delta)
        except Exception:
            self._delta_failed = True  # logged once: it would fail on every piece
            log.exception("run %s: on_delta observer failed; the rest of the run is not streamed", self._state.run_id)

    def ceiling(self) -> int:
        self._state.max_steps = self._critic.ceiling()
        return self._state.max_steps

    async def at_ceiling(self, index: int) -> bool:
        return await self._critic.at_ceiling(index)

    def steer(self) -> list[Message]:
        return self._mailbox.drain() + self._critic.drain_steer()

    async def before_model(self, index: int) -> None:
        await self._emit(StepEvent("model", index, self.ceiling()))

    async def compacted(self, event: CompactionEvent) -> None:
        await self._log_event("compaction_fired", asdict(event))

    async def model_responded(
        self, index: int, response: ModelResponse, steer: Sequence[Message], compaction: CompactionEdit | None
    ) -> None:
        """The response is recorded before its tools run: the run's checkpoint."""
        if self._recorder is None:
            return
        context = StepContext(tuple(steer), compaction, self.ceiling(), self._state.elapsed())
        await self._record(self._recorder.on_step(index, response.message, response.usage, context=context), "step")

    async def tool_started(self, index: int, call: ToolCall) -> None:
        self._critic.touch(tool=call.name)
        self._state.last_tool = call.name
        await self._emit(StepEvent("tool_start", index, self.ceiling(), call.name, call.arguments))

    async def approval(self, tool: str, approved: bool | None) -> None:
        """A gated call of ``tool`` waits for a person (``approved`` None),
        or the wait ended: the host shows who the run is waiting on."""
        kind: Literal["approval_wait", "approval_end"] = "approval_wait" if approved is None else "approval_end"
        await self._emit(StepEvent(kind, self._state.iteration, self.ceiling(), tool, is_error=approved is False))

    async def tool_finished(self, index: int, call: ToolCall, result: ToolResult, replayed: bool = False) -> None:
        # Recorded before the next model call, so a resumed run does not run it again.
        if self._recorder is not None and not replayed:
            await self._record(self._recorder.on_tool(index, call, result, elapsed=self._state.elapsed()), "tool result")
        self._critic.touch()
        self._state.tool_calls += 1
        self._state.tool_errors += int(result.is_error)
        await self._emit(
            StepEvent("tool_end", index, self.ceiling(), call.name, call.arguments, result.content, result.is_error)
        )

    async def iteration_done(
        self,
        index: int,
        response: ModelResponse,
        calls: Sequence[ToolCall],
        results: Sequence[ToolResult],
        usage: Usage,
    ) -> None:
        self._state.iteration = index + 1
        self._state.usage = usage
        self._critic.touch(iteration=index + 1)
        for call, result in zip_steps(calls, results):
            self._steps.append(Step(index, call.id, call.name, call.arguments, result.content, result.is_error))

    async def _record(self, write: Awaitable[None], what: str) -> None:
        """An audit write that failed costs the run its checkpoint, not its work."""
        try:
            await write
        except Exception:
            log.exception("run %s: recording a %s failed", self._state.run_id, what)

    async def _emit(self, event: StepEvent) -> None:
        """Live progress for the host; a failing observer never fails the run."""
        if self._on_step is None:
            return
        try:
            maybe = self._on_step(event)
            if maybe is not None:
                await maybe
        except Exception:
            log.exception("run %s: on_step observer failed", self._state.run_id)


def zip_steps(calls: Sequence[ToolCall], results: Sequence[ToolResult]) -> list[tuple[ToolCall, ToolResult]]:
    """Pair calls with results pairwise. A result without a call, or a call
    without a result, is skipped: never recorded as an empty "ghost" step."""
    return list(zip(calls, results, strict=False))
