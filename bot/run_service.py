"""RunService: the host's side of a run, without Discord.

A caller (the Discord host's thread runner, or the console) hands it a
RunRequest and its step observer. It loads the thread's
conversation, builds the run's Invocation once, complete, runs the executor,
stores the new turns (and drops the thread's images when a provider refused
one), and returns the Result to the caller, which delivers it. It keeps the
cancel handles of runs in flight for /cancel, the Cancel button and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from bot.budget_notices import BudgetNotices
from bot.messages.conversation import (
    CANCEL_NOT_YOURS,
    IMAGES_DROPPED,
    SHUTTING_DOWN,
    cancelled_by,
    cancelling,
    not_running,
)
from executor import BudgetExceeded, Executor, Result, RunnableAgent, RunRecord
from executor.llm import Image, ImageRejectedError, Message, OnDelta, SystemMessage, UserMessage
from executor.llm.pricing import format_usd
from executor.tools import AttachedFile, CancelHandle, Invocation, OnStep, new_run_id
from executor.tools.builtin import workspace_session_factory

log = logging.getLogger(__name__)

#: Posts a notice to the member where the run answers.
OnNotice = Callable[[str], Awaitable[object]]

#: Share of the model's context window a thread's history may fill, leaving
#: room for the new turn, tool results and the answer.
HISTORY_SHARE = 0.5


class ConversationStore(Protocol):
    async def load(self, thread_id: str, max_tokens: int) -> list[Message]: ...

    async def append(self, thread_id: str, messages: Sequence[Message], run_id: str) -> None: ...

    async def drop_images(self, thread_id: str, note: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run, as its caller asks for it: ``agent`` on ``prompt``, for
    ``caller_id``, in the conversation ``thread_id``. The run id is known
    before the run starts, so the caller can show it (the Cancel button)."""

    agent: RunnableAgent
    caller_id: str
    guild_id: str
    thread_id: str
    prompt: str
    run_id: str = field(default_factory=new_run_id)
    #: The caller's role ids, for budgets set per role.
    caller_roles: tuple[str, ...] = ()
    images: Sequence[Image] = ()
    #: The member's files, as tools (view_image) fetch them.
    attachments: tuple[AttachedFile, ...] = ()
    #: Per-run workspace tools the agent asked for (render_chart, write_file).
    session_tools: tuple[str, ...] = ()
    #: Whether the caller shows the answer while it is written (the agent's ``stream``).
    stream: bool = True
    #: The agent's tier for a member near a limit ("" none; bot/budget_notices.py).
    cheaper_tier: str = ""


@dataclass(frozen=True, slots=True)
class ActiveRun:
    """A run in flight: who may cancel it, where, and its handle."""

    run_id: str
    caller_id: str
    thread_id: str
    cancel: CancelHandle
    task: asyncio.Task[Any] | None


class RunService:
    def __init__(
        self,
        executor: Executor,
        conversations: ConversationStore,
        context_tokens: Callable[[str], int],
        notices: BudgetNotices | None = None,
    ) -> None:
        self._executor = executor
        self._conversations = conversations
        self._context_tokens = context_tokens
        self._notices = notices
        self._active: dict[str, ActiveRun] = {}
        self._closing = False

    async def run(
        self,
        request: RunRequest,
        on_step: OnStep | None = None,
        on_delta: OnDelta | None = None,
        on_notice: OnNotice | None = None,
        resume: RunRecord | None = None,
    ) -> Result:
        """Run to the end and return the Result; the caller delivers it.
        ``on_step`` sees every step as it happens; ``on_delta``, when given,
        the model's answers as they are written; ``on_notice`` what the
        member is told before the run (that it uses the agent's cheaper tier).
        ``resume``: the request is that of a run a gone process started,
        which goes on from its record (its conversation has not been added
        to since: the run had not ended).

        Raises nothing for a run failure (it is in the Result). A run asked
        for while the bot shuts down ends at once as cancelled.
        """
        # Registered before the first await (unless ``admitted`` did it
        # earlier), so a Cancel click can never miss it.
        cancel = (self._active.get(request.run_id) or self._register(request)).cancel
        session_tools = workspace_session_factory(only=request.session_tools) if request.session_tools else None
        try:
            agent = await self._agent_for(request, on_notice)
            budget_tokens = int(self._context_tokens(self._executor.tier_of(agent)) * HISTORY_SHARE)
            history = await self._conversations.load(request.thread_id, budget_tokens)
            invocation = Invocation(
                caller_id=request.caller_id,
                caller_roles=request.caller_roles,
                run_id=request.run_id,
                guild_id=request.guild_id,
                channel_id=request.thread_id,
                history=history,
                input_images=tuple(request.images),
                attachments=request.attachments,
                on_step=on_step,
                on_delta=on_delta,
                cancel=cancel,
            )
            result = await self._executor.run(agent, invocation, request.prompt, session_tools, resume)
        finally:
            self._active.pop(request.run_id, None)
        u = result.usage
        log.info(
            "run %s agent=%s member=%s thread=%s status=%s %.1fs steps=%d tokens=%d/%d cost=%s%s",
            request.run_id,
            agent.id,
            request.caller_id,
            request.thread_id,
            result.status.value,
            result.runtime_seconds,
            len(result.steps),
            u.input_tokens,
            u.output_tokens,
            format_usd(u.cost),
            f" error={type(result.err).__name__}" if result.err is not None else "",
        )
        if isinstance(result.err, BudgetExceeded):
            return result  # the run never started: nothing to add to the conversation
        turns = new_turns(result.transcript, len(history), request.prompt)
        if turns:
            await self._conversations.append(request.thread_id, turns, request.run_id)
        if isinstance(result.err, ImageRejectedError):
            # Which image the provider refused is not said; any of the thread's
            # could be it, and each would be refused again on every later turn.
            await self._conversations.drop_images(request.thread_id, IMAGES_DROPPED)
            log.warning("run %s: images dropped from thread %s: %s", request.run_id, request.thread_id, result.err)
        return result

    async def budget_warnings(self, request: RunRequest) -> list[str]:
        """The budget warnings the member is due after this run (each limit's
        once per period); the caller posts them. Best-effort: [] when the
        store cannot say."""
        if self._notices is None:
            return []
        try:
            return await self._notices.warnings(request.guild_id, request.caller_id, request.caller_roles)
        except Exception:
            log.exception("run %s: budget warnings failed", request.run_id)
            return []

    async def _agent_for(self, request: RunRequest, on_notice: OnNotice | None) -> RunnableAgent:
        """The agent as asked, or on its cheaper tier when the member is near a limit (and told so)."""
        agent, cheaper = request.agent, request.cheaper_tier
        if self._notices is None or not cheaper or cheaper == self._executor.tier_of(agent):
            return agent
        notice = await self._notices.cheaper_tier(request.guild_id, request.caller_id, request.caller_roles, cheaper)
        if notice is None:
            return agent
        if on_notice is not None:
            await on_notice(notice)
        return replace(agent, tier=cheaper)

    @contextlib.contextmanager
    def admitted(self, request: RunRequest) -> Iterator[None]:
        """Register ``request``'s run for Cancel and shutdown before anyone
        can see it. Its caller posts the Cancel button inside this block:
        Discord shows the button before the bot hears back that the message
        exists, and a click that early still cancels the run (which then
        ends at once as cancelled). ``run`` inside the block takes the
        registration over."""
        self._register(request)
        try:
            yield
        finally:
            self._active.pop(request.run_id, None)

    def _register(self, request: RunRequest) -> ActiveRun:
        cancel = CancelHandle()
        active = ActiveRun(request.run_id, request.caller_id, request.thread_id, cancel, asyncio.current_task())
        self._active[request.run_id] = active
        if self._closing:
            cancel.cancel(SHUTTING_DOWN)
        return active

    @property
    def in_flight(self) -> int:
        return len(self._active)

    def runs_in_thread(self, thread_id: str) -> list[ActiveRun]:
        return [a for a in self._active.values() if a.thread_id == thread_id]

    def cancel(self, run_id: str, member_id: int, is_admin: bool) -> str:
        """Cancel a run for a member; returns the text to show them.
        Only the member who started the run, or an admin, may cancel it."""
        active = self._active.get(run_id)
        if active is None:
            return not_running(run_id)
        if active.caller_id != str(member_id) and not is_admin:
            return CANCEL_NOT_YOURS
        active.cancel.cancel(cancelled_by(member_id))
        return cancelling(run_id)

    async def shutdown(self, timeout: float = 15.0) -> None:
        """Cancel every run in flight through its handle (they end as
        ``cancelled`` with audit and budget written) and wait for them."""
        self._closing = True
        tasks = [a.task for a in self._active.values() if a.task is not None]
        for a in list(self._active.values()):
            a.cancel.cancel(SHUTTING_DOWN)
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
