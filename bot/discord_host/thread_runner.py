"""One run in a Discord thread, from the progress message to the answer.

The runner holds the thread: it posts the progress message, has the run
service run the agent, sends the answer and its files into the thread with
the upload limit it was given, and finishes the progress message. The run
goes down once and its Result comes back once; nothing finds the thread
again by its id. An answer the agent streams grows in the thread while the
model writes it (``streaming.py``) and ends as the same messages.

A run a gone process started (durable runs, see bot/store/records.py) is
resumed here too, in its thread, on its progress message, which says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import discord

from bot.coalesce import Clock, MonotonicClock
from bot.discord_host.delivery import NO_PINGS, deliver, withdraw_drafts
from bot.discord_host.progress import ProgressMessage, cancel_view
from bot.discord_host.streaming import StreamedAnswer
from bot.messages.conversation import progress_resumed, progress_starting
from bot.run_service import RunRequest, RunService
from bot.store import ResumeRequest
from executor import Result, RunRecord

log = logging.getLogger(__name__)

#: Bound on sending an answer: a hung upload must not hold the thread's turn.
DELIVERY_TIMEOUT = 120.0


class ProgressRecords(Protocol):
    """Where a run's progress message is recorded with the run (the store's
    audit), so that a run cut off by a crash can have it finished later."""

    def progress_shown(
        self, run_id: str, message_id: str, resume: ResumeRequest | None = None
    ) -> AbstractContextManager[None]: ...

    async def draft_shown(self, run_id: str, message_id: str) -> None: ...


class ThreadRunner:
    """Serialises runs per thread (a follow-up sent while a run is going waits
    its turn instead of being dropped) and drives the progress message."""

    def __init__(self, service: RunService, records: ProgressRecords, clock: Clock | None = None) -> None:
        self._service = service
        self._records = records
        #: What paces the edits of progress messages and streamed answers.
        self.clock = clock or MonotonicClock()
        # Weak: a thread's lock lives only while a run holds or awaits it.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        #: Runs started here and not yet fully reported (answer and progress
        #: included), and runs fully reported: for logs and tests.
        self.in_flight = 0
        self.completed = 0
        #: Runs waiting for their thread's turn (the queued runs gauge).
        self.queued = 0

    async def run(
        self, thread: discord.Thread | discord.DMChannel, request: RunRequest, upload_limit: int | None = None
    ) -> Result:
        """Run ``request`` in ``thread`` (or a DM, which is its own
        conversation) and answer there. ``upload_limit``: what the member's
        interaction allows; else the thread's guild's (Discord's default in a DM)."""
        async with self._turn(thread):
            with self._service.admitted(request):  # before the Cancel button can be clicked
                agent_name = request.agent.name or request.agent.id
                message = await thread.send(
                    progress_starting(agent_name, request.run_id),
                    view=cancel_view(request.run_id),
                    allowed_mentions=NO_PINGS,
                )
                progress = ProgressMessage(message, request.run_id, agent_name, self.clock)
                with self._records.progress_shown(request.run_id, str(message.id), resume_request(request)):
                    return await self._drive(thread, request, progress, upload_limit or _upload_limit(thread))

    async def resume(
        self,
        thread: discord.Thread | discord.DMChannel,
        request: RunRequest,
        progress_message_id: int,
        record: RunRecord,
        drafts: Sequence[str] = (),
    ) -> Result:
        """Resume ``request``'s run, which a gone process started, from
        ``record``, and answer in ``thread``; its progress message says it
        resumed after a restart, and the ``drafts`` its answer had posted
        are withdrawn (the answer is written again). Takes the thread's turn
        before its first await, so a follow-up caught up after it waits for it."""
        async with self._turn(thread):
            with self._service.admitted(request):  # its Cancel button is still there
                await withdraw_drafts(thread, drafts)
                agent_name = request.agent.name or request.agent.id
                message = thread.get_partial_message(progress_message_id)
                progress = ProgressMessage(message, request.run_id, agent_name, self.clock, resumed=True)
                try:
                    await message.edit(content=progress_resumed(agent_name, request.run_id), allowed_mentions=NO_PINGS)
                except discord.HTTPException as exc:  # the message is gone: the run still answers
                    log.warning("run %s: could not mark its progress message resumed: %s", request.run_id, exc)
                return await self._drive(thread, request, progress, _upload_limit(thread), record)

    @contextlib.asynccontextmanager
    async def _turn(self, thread: discord.Thread | discord.DMChannel) -> AsyncIterator[None]:
        """The thread's turn: one run at a time in a thread, in order of arrival."""
        lock = self._locks.get(thread.id)
        if lock is None:
            lock = self._locks[thread.id] = asyncio.Lock()
        self.in_flight += 1
        try:
            self.queued += 1
            try:
                await lock.acquire()
            finally:
                self.queued -= 1
            try:
                yield
            finally:
                lock.release()
        finally:
            self.in_flight -= 1
            self.completed += 1

    async def _drive(
        self,
        thread: discord.Thread | discord.DMChannel,
        request: RunRequest,
        progress: ProgressMessage,
        upload_limit: int,
        resume: RunRecord | None = None,
    ) -> Result:
        """Run, answer, and finish the progress message."""
        answer = None
        if request.stream:

            async def shown(draft: discord.Message) -> None:
                await self._records.draft_shown(request.run_id, str(draft.id))

            answer = StreamedAnswer(thread, progress, self.clock, shown)
        notify = _poster(thread)
        if answer is None:
            result = await self._service.run(request, progress.on_step, on_notice=notify, resume=resume)
        else:
            result = await self._service.run(request, answer.on_step, answer.on_delta, on_notice=notify, resume=resume)
        try:
            async with asyncio.timeout(DELIVERY_TIMEOUT):
                await deliver(thread, result, upload_limit, answer)
        except Exception:  # the run stands, its record has the answer; the progress message still ends
            log.exception("run %s: could not deliver the answer to thread %s", request.run_id, thread.id)
        await progress.finish(result)
        for warning in await self._service.budget_warnings(request):
            await notify(warning)
        return result


def _upload_limit(channel: discord.Thread | discord.DMChannel) -> int:
    if isinstance(channel, discord.Thread):
        return channel.guild.filesize_limit
    return discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES


def _poster(thread: discord.Thread | discord.DMChannel) -> Callable[[str], Awaitable[object]]:
    """Posts a notice for the member in the thread, pinging nobody."""

    async def post(text: str) -> object:
        return await thread.send(text, allowed_mentions=NO_PINGS)

    return post


def resume_request(request: RunRequest) -> ResumeRequest:
    """What to ask again to resume ``request``'s run in another process."""
    return ResumeRequest(
        agent_id=request.agent.id,
        caller_id=request.caller_id,
        guild_id=request.guild_id,
        thread_id=request.thread_id,
        prompt=request.prompt,
        images=tuple(request.images),
        attachments=request.attachments,
        session_tools=request.session_tools,
        caller_roles=request.caller_roles,
    )
