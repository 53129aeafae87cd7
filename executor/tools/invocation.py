"""The Invocation a run starts with, and the records a run produces (steps,
artifacts), plus the session-tool seam (tools that live for one run)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from executor.llm.types import Image, Message

if TYPE_CHECKING:
    from executor.state import RunState
    from executor.tools.base import Tool


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True, slots=True)
class Step:
    """One tool call of a run and what it returned."""

    index: int
    call_id: str
    tool: str
    arguments: str
    result: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Live progress for the host (the Discord progress message).

    ``kind`` is ``model`` before each model call, ``tool_start`` / ``tool_end``
    around each tool. ``max_steps`` is the current ceiling (the critic may raise it).
    """

    kind: Literal["model", "tool_start", "tool_end"]
    index: int
    max_steps: int
    tool: str = ""
    arguments: str = ""
    result: str = ""
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file PostRun produced; the host uploads it."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(slots=True)
class PostRunResult:
    artifacts: list[Artifact] = field(default_factory=list)


class RunSession(Protocol):
    """The live run, as a session tool factory sees it."""

    def attach_images(self, images: Sequence[Image], note: str = "") -> None:
        """Queue images; they reach the model before its next call."""


PostRunHook = Callable[[list[Message], str, BaseException | None], Awaitable[PostRunResult | None]]
CleanupHook = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class SessionTools:
    """What a SessionToolFactory mints for one run.

    ``post_run`` gets the full transcript, the output and the run error (None
    on success), even when the run failed; ``cleanup`` always runs last. Both
    are exception-isolated: they never fail an otherwise good run.
    """

    tools: list[Tool] = field(default_factory=list)
    post_run: PostRunHook | None = None
    cleanup: CleanupHook | None = None


SessionToolFactory = Callable[[RunSession], SessionTools]
OnStep = Callable[[StepEvent], Awaitable[None] | None]


class CancelHandle:
    """A member's cancel for one run (the Cancel button, ``/cancel``).

    Distinct from cancelling the caller's task: a cancel through the handle
    makes ``run()`` return a ``cancelled`` Result instead of raising.
    Idempotent; safe to call before the run starts.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled by user") -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass(slots=True)
class Invocation:
    """Who started a run, where it answers, and the per-run seams.

    A run never changes the Invocation it is given: it works on its own copy
    (sharing ``cancel``, so the caller's handle still stops it), where it fills
    ``input``, ``attach_images``, ``run_state`` and ``on_activity``; tools read
    them through the Invocation they are handed. Reusing one Invocation for
    several runs is therefore safe (they share its ``run_id``).
    """

    caller_id: str
    run_id: str = field(default_factory=new_run_id)
    #: The run's input, set by the executor when the run starts, so ports that
    #: only get the invocation (the budget recording a refusal) see what was asked.
    input: str = ""
    guild_id: str = ""
    channel_id: str = ""
    parent_run_id: str = ""
    depth: int = 0
    skill_inputs: dict[str, Any] = field(default_factory=dict)
    history: list[Message] = field(default_factory=list)
    input_images: list[Image] = field(default_factory=list)
    delivery_kind: str = ""
    delivery_id: str = ""
    on_step: OnStep | None = None
    extra_tools: list[Tool] = field(default_factory=list)
    session_tool_factory: SessionToolFactory | None = None
    cancel: CancelHandle = field(default_factory=CancelHandle)
    attach_images: Callable[[Sequence[Image], str], None] | None = None
    run_state: RunState | None = None
    #: Called on every step of the run. A delegated sub-run gets its parent's,
    #: so a parent waiting on a working child is not idle to its critic.
    on_activity: Callable[[], None] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def child(self, run_id: str | None = None) -> Invocation:
        """The invocation of a delegated sub-run: same caller and guild, one
        level deeper, no delivery target (the parent answers), shared cancel,
        and its steps reported to the parent's ``on_activity``."""
        return Invocation(
            caller_id=self.caller_id,
            run_id=run_id or new_run_id(),
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            parent_run_id=self.run_id,
            depth=self.depth + 1,
            cancel=self.cancel,
            on_activity=self.on_activity,
            metadata=dict(self.metadata),
        )
