"""The live progress message of a run, with its Cancel button, and the
last word on the progress of runs a dead process left behind.

Step events arrive faster than Discord lets a message be edited (about five
edits per five seconds per channel), so edits are coalesced: at most one in
flight and one every MIN_EDIT_INTERVAL seconds, always showing the newest
state. The loop never waits on Discord: ``on_step`` only schedules.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.delivery import NO_PINGS
from bot.messages import STATUS_ICON
from bot.store import StoredStatus
from executor import Result
from executor.tools import StepEvent

if TYPE_CHECKING:
    from bot.runs import RunService
    from bot.store import InterruptedRun

log = logging.getLogger(__name__)

MIN_EDIT_INTERVAL = 1.2


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"executus:cancel:(?P<run_id>[0-9a-f]+)"):
    """A Cancel button that survives view objects being dropped: the run id
    lives in the custom_id, and the bot routes the click to its RunService."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"executus:cancel:{run_id}")
        )
        self.run_id = run_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(match["run_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        service: RunService = interaction.client.runs
        outcome = service.cancel(self.run_id, interaction.user, interaction.permissions.manage_guild)
        await interaction.response.send_message(outcome, ephemeral=True)


def cancel_view(run_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(run_id))
    return view


class ProgressMessage:
    """Owns one progress message; ``on_step`` is the run's StepEvent observer."""

    def __init__(self, message: discord.Message, run_id: str, agent_name: str) -> None:
        self._message = message
        self._run_id = run_id
        self._agent = agent_name
        self._step = 0
        self._max_steps = 0
        self._running: dict[str, int] = {}
        self._done: list[str] = []
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._last_edit = 0.0
        self._started = time.monotonic()

    def on_step(self, event: StepEvent) -> None:
        self._step, self._max_steps = event.index + 1, event.max_steps
        if event.kind == "tool_start":
            self._running[event.tool] = self._running.get(event.tool, 0) + 1
        elif event.kind == "tool_end":
            left = self._running.get(event.tool, 1) - 1
            if left:
                self._running[event.tool] = left
            else:
                self._running.pop(event.tool, None)
            self._done = (self._done + [("❌ " if event.is_error else "✔️ ") + event.tool])[-6:]
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    def render(self) -> str:
        head = f"⚙️ **{self._agent}** is working · step {self._step} of {self._max_steps}"
        lines = [head]
        if self._running:
            lines.append("running " + ", ".join(f"`{t}`" for t in self._running))
        if self._done:
            lines.append(" · ".join(self._done))
        lines.append(f"-# run `{self._run_id}` · {time.monotonic() - self._started:.0f} s")
        return "\n".join(lines)

    async def _flush(self) -> None:
        while self._dirty:
            wait = self._last_edit + MIN_EDIT_INTERVAL - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty = False
            self._last_edit = time.monotonic()
            try:
                await self._message.edit(content=self.render(), allowed_mentions=NO_PINGS)
            except discord.HTTPException as exc:
                log.warning("run %s: progress edit failed: %s", self._run_id, exc)

    async def finish(self, result: Result) -> None:
        """Final state, without the Cancel button. Waits for a pending edit so
        the last word is always this one."""
        self._dirty = False
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        u = result.usage
        parts = [
            f"{STATUS_ICON[StoredStatus(result.status)]} **{self._agent}** {result.status.value}",
            f"{result.runtime_seconds:.1f} s",
            f"{len(result.steps)} tool call{'s' if len(result.steps) != 1 else ''}",
            f"{u.total_tokens:,} tokens",
        ]
        if result.ceiling_hit:
            parts.append("step limit reached")
        text = " · ".join(parts) + f"\n-# run `{self._run_id}`"
        try:
            await self._message.edit(content=text, view=None, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("run %s: final progress edit failed: %s", self._run_id, exc)


class Notices(Protocol):
    """The interrupted runs whose threads are owed a word (the store's runs)."""

    async def notices_pending(self) -> list[InterruptedRun]: ...

    async def claim_notice(self, run_id: str) -> bool: ...


def interrupted_progress(run: InterruptedRun) -> str:
    return (
        f"{STATUS_ICON[StoredStatus.INTERRUPTED]} **{run.agent_name}** {StoredStatus.INTERRUPTED} · the bot stopped before this run finished; ask again"
        f"\n-# run `{run.run_id}`"
    )


def interrupted_note(run: InterruptedRun) -> str:
    return (
        "⚠️ This run was cut off when the bot stopped, so it has no answer. "
        f"Ask again here to run it once more.\n-# run `{run.run_id}`"
    )


async def announce_interrupted(client: discord.Client, notices: Notices) -> int:
    """At start-up: for each run cut off by a crash or restart (recovered by
    this process or any other), say so in its thread and finish its progress
    message, which still shows it working, without the Cancel button.

    Each run is claimed first, so of several bot processes one tells it;
    runs of servers this process does not serve are left to one that does.
    The note goes first: sending unarchives an idle thread, which an edit
    alone cannot. Returns how many runs were announced.
    """
    announced = 0
    for run in await notices.notices_pending():
        served = run.guild_id.isdigit() and client.get_guild(int(run.guild_id)) is not None
        if not served or not await notices.claim_notice(run.run_id):
            continue
        channel = client.get_partial_messageable(int(run.thread_id))
        try:
            await channel.send(interrupted_note(run), allowed_mentions=NO_PINGS)
            await channel.get_partial_message(int(run.progress_message_id)).edit(
                content=interrupted_progress(run), view=None, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:  # the thread or the message is gone: nothing left to tell
            log.warning("run %s: could not report it interrupted in thread %s: %s", run.run_id, run.thread_id, exc)
        else:
            announced += 1
    if announced:
        log.info("told %d thread(s) that their run was interrupted", announced)
    return announced
