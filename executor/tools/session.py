"""Session tools: tools that live for one run, minted per run by a factory the
host hands to ``Executor.run``, with the run's PostRun and Cleanup hooks and
the artifacts PostRun produces."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from executor.llm.types import Image, Message
from executor.tools.base import Tool


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
