"""RunRecord: what a run recorded, enough to rebuild it after its process died.

The audit trail is the checkpoint. Each model response that asked for tools
is recorded (``RecordedStep``) before those tools run, with what shaped the
conversation just before that call: the messages steered in (images a tool
attached, the critic's nudges), the compaction that rewrote it, and the step
ceiling as the critic had left it. Each tool result is recorded before the
next model call. A run resumed from its RunRecord (``Executor.run(...,
resume=record)``) replays those instead of calling the model and the tools,
so its transcript is the one it had, and goes on live from the first
response that was not recorded. A tool cut off mid-call has no result in the
record: it runs again, and only it.

The record lives in the host's store; the executor only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from executor.llm.types import AssistantMessage, Message, Usage
from executor.tools.base import ToolResult


@dataclass(frozen=True, slots=True)
class CompactionEdit:
    """How compaction rewrote the conversation before a model call: the first
    ``head`` and last ``tail`` messages were kept and ``inserted`` (the
    summary) replaced those between. ``usage`` is what the compactor spent."""

    head: int
    tail: int
    inserted: tuple[Message, ...]
    usage: Usage = field(default_factory=Usage)

    @classmethod
    def between(cls, before: Sequence[Message], after: Sequence[Message], usage: Usage) -> CompactionEdit:
        """The edit that turns ``before`` into ``after`` (kept messages are the same objects)."""
        head = 0
        while head < min(len(before), len(after)) and before[head] is after[head]:
            head += 1
        tail = 0
        while tail < min(len(before), len(after)) - head and before[-1 - tail] is after[-1 - tail]:
            tail += 1
        return cls(head, tail, tuple(after[head : len(after) - tail]), usage)

    def apply(self, messages: Sequence[Message]) -> list[Message]:
        return [*messages[: self.head], *self.inserted, *messages[len(messages) - self.tail :]]


@dataclass(frozen=True, slots=True)
class StepContext:
    """What went into one model call besides the conversation so far."""

    #: Messages steered in just before the call.
    steer: tuple[Message, ...] = ()
    compaction: CompactionEdit | None = None
    #: The step ceiling when the call was made (the critic may have raised it).
    ceiling: int = 0
    #: Seconds of the run's time used when the response arrived.
    elapsed: float = 0.0


NO_CONTEXT = StepContext()


@dataclass(frozen=True, slots=True)
class RecordedStep:
    """A model response that asked for tools, as recorded."""

    message: AssistantMessage
    usage: Usage
    context: StepContext = NO_CONTEXT


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run's recorded steps by loop index, its tool results by (index, call
    id), and the run time it had used (its time limit counts it)."""

    steps: Mapping[int, RecordedStep] = field(default_factory=dict)
    results: Mapping[tuple[int, str], ToolResult] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ceiling(self) -> int:
        """The step ceiling the last recorded step ran under; 0 when none was recorded."""
        return self.steps[max(self.steps)].context.ceiling if self.steps else 0
