"""Running an agent in a Discord thread: the progress message, the run, the
final progress state. Shared by /ask, mentions and thread follow-ups."""

from __future__ import annotations

import asyncio
import weakref
from contextlib import AbstractContextManager
from typing import Protocol

import discord

from bot.delivery import NO_PINGS
from bot.progress import ProgressMessage, cancel_view
from bot.runs import RunRequest, RunService
from executor import Result


class ProgressRecords(Protocol):
    """Where a run's progress message is recorded with the run (the store's
    audit), so that a run cut off by a crash can have it finished later."""

    def progress_shown(self, run_id: str, message_id: str) -> AbstractContextManager[None]: ...


class ThreadRunner:
    """Serialises runs per thread (a follow-up sent while a run is going waits
    its turn instead of being dropped) and drives the progress message."""

    def __init__(self, service: RunService, records: ProgressRecords) -> None:
        self.service = service
        self._records = records
        # Weak: a thread's lock lives only while a run holds or awaits it.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        #: Runs started here and not yet fully reported (progress included),
        #: and runs fully reported: what the bot is busy with, for logs and tests.
        self.in_flight = 0
        self.completed = 0

    async def run(self, thread: discord.Thread, request: RunRequest, agent_name: str) -> Result:
        lock = self._locks.get(thread.id)
        if lock is None:
            lock = self._locks[thread.id] = asyncio.Lock()
        self.in_flight += 1
        try:
            return await self._run_locked(lock, thread, request, agent_name)
        finally:
            self.in_flight -= 1
            self.completed += 1

    async def _run_locked(self, lock: asyncio.Lock, thread: discord.Thread, request: RunRequest, agent_name: str) -> Result:
        async with lock:
            invocation = self.service.prepare(request)
            message = await thread.send(
                f"⚙️ **{agent_name}** is starting…\n-# run `{invocation.run_id}`",
                view=cancel_view(invocation.run_id),
                allowed_mentions=NO_PINGS,
            )
            progress = ProgressMessage(message, invocation.run_id, agent_name)
            with self._records.progress_shown(invocation.run_id, str(message.id)):
                result = await self.service.run(request, invocation, progress.on_step)
            await progress.finish(result)
            return result
