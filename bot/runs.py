"""RunService: the host's side of a run.

Cogs hand it a RunRequest; it loads the thread's conversation, builds the
Invocation (delivery to the thread, progress observer, session tools, the
member's images), runs the executor, stores the new turns (and drops the
thread's images when a provider refused one), and keeps the cancel handles
of runs in flight for /cancel, the Cancel button and shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot.text import fit
from executor import BudgetExceeded, Executor, Result, RunnableAgent
from executor.llm import Image, ImageRejectedError, Message, SystemMessage, UserMessage
from executor.tools import AttachedFile, Invocation, OnStep
from executor.tools.builtin import workspace_session_factory

log = logging.getLogger(__name__)

#: Share of the model's context window a thread's history may fill, leaving
#: room for the new turn, tool results and the answer.
HISTORY_SHARE = 0.5
#: Left in the text of a stored message whose images were dropped.
IMAGES_DROPPED = "[image removed: the model provider refused an image in this conversation]"


class ConversationStore(Protocol):
    async def load(self, thread_id: str, max_tokens: int) -> list[Message]: ...

    async def append(self, thread_id: str, messages: Sequence[Message], run_id: str) -> None: ...

    async def drop_images(self, thread_id: str, note: str) -> None: ...


class Member(Protocol):
    @property
    def id(self) -> int: ...


@dataclass(slots=True)
class RunRequest:
    """What a cog asks for: run ``agent`` on ``prompt`` answering in ``thread_id``."""

    agent: RunnableAgent
    caller_id: str
    guild_id: str
    thread_id: str
    prompt: str
    images: list[Image] = field(default_factory=list)
    attachments: tuple[AttachedFile, ...] = ()
    upload_limit: int | None = None
    #: Per-run workspace tools the agent asked for (render_chart, write_file).
    session_tools: tuple[str, ...] = ()


@dataclass(slots=True)
class ActiveRun:
    invocation: Invocation
    agent_id: str
    thread_id: str
    task: asyncio.Task[Any] | None
    upload_limit: int | None


class RunService:
    def __init__(
        self,
        executor: Executor,
        conversations: ConversationStore,
        context_tokens: Callable[[str], int],
    ) -> None:
        self._executor = executor
        self._conversations = conversations
        self._context_tokens = context_tokens
        self.active: dict[str, ActiveRun] = {}
        self._closing = False

    def prepare(self, request: RunRequest) -> Invocation:
        """The run's Invocation, so the caller knows the run id (for the
        progress message's Cancel button) before the run starts."""
        return Invocation(
            caller_id=request.caller_id,
            guild_id=request.guild_id,
            channel_id=request.thread_id,
            delivery_kind="thread",
            delivery_id=request.thread_id,
            input_images=tuple(request.images),
            attachments=request.attachments,
        )

    async def run(self, request: RunRequest, invocation: Invocation, on_step: OnStep | None = None) -> Result:
        """Run to the end; the executor delivers the answer into the thread.

        Raises nothing for a run failure (it is in the Result). Refuses to
        start while the bot shuts down.
        """
        agent = request.agent
        # Registered before the first await, so a Cancel click can never miss it.
        active = ActiveRun(invocation, agent.id, request.thread_id, asyncio.current_task(), request.upload_limit)
        self.active[invocation.run_id] = active
        if self._closing:
            invocation.cancel.cancel("the bot is shutting down")
        budget_tokens = int(self._context_tokens(self._executor.tier_of(agent)) * HISTORY_SHARE)
        session_tools = workspace_session_factory(only=request.session_tools) if request.session_tools else None
        try:
            history = await self._conversations.load(request.thread_id, budget_tokens)
            invocation = replace(invocation, on_step=on_step, history=history)
            result = await self._executor.run(agent, invocation, request.prompt, session_tools)
        finally:
            self.active.pop(invocation.run_id, None)
        u = result.usage
        log.info(
            "run %s agent=%s member=%s thread=%s status=%s %.1fs steps=%d tokens=%d/%d%s",
            invocation.run_id,
            agent.id,
            request.caller_id,
            request.thread_id,
            result.status.value,
            result.runtime_seconds,
            len(result.steps),
            u.input_tokens,
            u.output_tokens,
            f" error={type(result.err).__name__}" if result.err is not None else "",
        )
        if isinstance(result.err, BudgetExceeded):
            return result  # the budget store has recorded the refusal for admins
        turns = new_turns(result.transcript, len(invocation.history), request.prompt)
        if turns:
            await self._conversations.append(request.thread_id, turns, invocation.run_id)
        if isinstance(result.err, ImageRejectedError):
            # Which image the provider refused is not said; any of the thread's
            # could be it, and each would be refused again on every later turn.
            await self._conversations.drop_images(request.thread_id, IMAGES_DROPPED)
            log.warning("run %s: images dropped from thread %s: %s", invocation.run_id, request.thread_id, result.err)
        return result

    def upload_limit(self, run_id: str) -> int | None:
        active = self.active.get(run_id)
        return active.upload_limit if active else None

    def runs_in_thread(self, thread_id: str) -> list[ActiveRun]:
        return [a for a in self.active.values() if a.thread_id == thread_id]

    def cancel(self, run_id: str, member: Member, is_admin: bool) -> str:
        """Cancel a run for a member; returns the text to show them.
        Only the member who started the run, or an admin, may cancel it."""
        active = self.active.get(run_id)
        if active is None:
            return f"Run `{fit(run_id, 40)}` is not running any more."
        if active.invocation.caller_id != str(member.id) and not is_admin:
            return "Only the member who started this run, or an admin, can cancel it."
        active.invocation.cancel.cancel(f"cancelled by <@{member.id}>")
        return f"Cancelling run `{run_id}`…"

    async def shutdown(self, timeout: float = 15.0) -> None:
        """Cancel every run in flight through its handle (they end as
        ``cancelled`` with audit and budget written) and wait for them."""
        self._closing = True
        tasks = [a.task for a in self.active.values() if a.task is not None]
        for a in list(self.active.values()):
            a.invocation.cancel.cancel("the bot is shutting down")
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                log.warning("%d run(s) did not finish within %.0f s of shutdown", len(pending), timeout)


def new_turns(transcript: Sequence[Message], history_len: int, prompt: str) -> list[Message]:
    """The messages this run added to the thread: the member's prompt and
    everything after it. Found by content rather than position, because
    compaction may have rewritten the history part of the transcript."""
    start = 1 if transcript and isinstance(transcript[0], SystemMessage) else 0
    guess = start + history_len
    if guess < len(transcript) and _is_prompt(transcript[guess], prompt):
        return list(transcript[guess:])
    for i in range(len(transcript) - 1, start - 1, -1):
        if _is_prompt(transcript[i], prompt):
            return list(transcript[i:])
    return []


def _is_prompt(message: Message, prompt: str) -> bool:
    return isinstance(message, UserMessage) and message.content == prompt
