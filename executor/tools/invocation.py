"""The Invocation a run starts with, the live progress it reports (StepEvent)
and the tool steps it records (Step)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from executor.llm.model import OnDelta
from executor.llm.types import Image, Message
from executor.state import RunState


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
    around each tool, and, inside those, ``approval_wait`` / ``approval_end``
    around a gated call's wait for a person (``is_error`` on the end: it was
    not approved). ``max_steps`` is the current ceiling (the critic may raise it).
    """

    kind: Literal["model", "tool_start", "tool_end", "approval_wait", "approval_end"]
    index: int
    max_steps: int
    tool: str = ""
    arguments: str = ""
    result: str = ""
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class AttachedFile:
    """A file the member attached to the message that started the run. Tools
    (view_image) fetch it by ``url`` when the model asks for it by name or
    position; ``size`` is in bytes, 0 when the host does not know it."""

    name: str
    url: str
    content_type: str = ""
    size: int = 0


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


@dataclass(frozen=True, slots=True)
class Invocation:
    """Who started a run, where it answers, what it brings (history, images,
    attachments) and the per-run seams. Built once, complete: it is frozen.

    The run works on its own copy (``dataclasses.replace``, sharing ``cancel``,
    so the caller's handle still stops it) in which the executor fills
    ``input``, ``attach_images``, ``run_state`` and ``on_activity``; tools read
    them through the Invocation they are handed. Reusing one Invocation for
    several runs is therefore safe (they share its ``run_id``).
    """

    caller_id: str
    run_id: str = field(default_factory=new_run_id)
    #: The caller's role ids in the guild, for limits set per role.
    caller_roles: tuple[str, ...] = ()
    #: The run's input, set by the executor when the run starts, so ports that
    #: only get the invocation (the budget recording a refusal) see what was asked.
    input: str = ""
    guild_id: str = ""
    channel_id: str = ""
    parent_run_id: str = ""
    depth: int = 0
    skill_inputs: Mapping[str, Any] = field(default_factory=dict)
    history: Sequence[Message] = ()
    input_images: Sequence[Image] = ()
    attachments: tuple[AttachedFile, ...] = ()
    delivery_kind: str = ""
    delivery_id: str = ""
    on_step: OnStep | None = None
    #: Asks for the run's model answers as they are written (the host shows
    #: them growing); None: plain, unstreamed model calls. Called with every
    #: delta of every model call of the run, in order; a ``model`` StepEvent
    #: comes before each call, so the host knows where one turn's text ends.
    #: Delegated sub-runs never stream: their parent answers.
    on_delta: OnDelta | None = None
    cancel: CancelHandle = field(default_factory=CancelHandle)
    attach_images: Callable[[Sequence[Image], str], None] | None = None
    run_state: RunState | None = None
    #: Called on every step of the run. A delegated sub-run gets its parent's,
    #: so a parent waiting on a working child is not idle to its critic.
    on_activity: Callable[[], None] | None = None
    #: Entered while the run waits for a person (an approval). A delegated
    #: sub-run gets its parent's, so the parent's time limit and critic stand
    #: still too while its child waits.
    on_wait: Callable[[], AbstractContextManager[None]] | None = None

    def child(self, skill_inputs: Mapping[str, Any] | None = None, run_id: str | None = None) -> Invocation:
        """The invocation of a delegated sub-run: same caller, guild and
        attachments, one level deeper, no delivery target (the parent
        answers), shared cancel, its steps reported to the parent's
        ``on_activity`` and its waits for people to the parent's ``on_wait``."""
        return Invocation(
            caller_id=self.caller_id,
            run_id=run_id or new_run_id(),
            caller_roles=self.caller_roles,
            guild_id=self.guild_id,
            channel_id=self.channel_id,
            parent_run_id=self.run_id,
            depth=self.depth + 1,
            skill_inputs=dict(skill_inputs or {}),
            attachments=self.attachments,
            cancel=self.cancel,
            on_activity=self.on_activity,
            on_wait=self.on_wait,
        )
