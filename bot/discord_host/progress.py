"""The live progress message of a run, with its Cancel button, and the
last word on the progress of runs a dead process left behind.

Step events arrive faster than Discord lets a message be edited (about five
edits per five seconds per channel), so edits are coalesced: at most one in
flight and one every MIN_EDIT_INTERVAL seconds, always showing the newest
state. The loop never waits on Discord: ``on_step`` only schedules.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.coalesce import Clock, Coalescer, MonotonicClock
from bot.discord_host.delivery import NO_PINGS, withdraw_drafts
from bot.messages.conversation import (
    CANCEL_LABEL,
    interrupted_note,
    progress_finished,
    progress_interrupted,
    progress_working,
    tool_done,
)
from bot.store.scopes import PERSONAL_SCOPE
from executor import Result
from executor.tools import StepEvent

if TYPE_CHECKING:
    from bot.run_service import RunService
    from bot.store import InterruptedRun

log = logging.getLogger(__name__)

MIN_EDIT_INTERVAL = 1.2
#: Finished tools the progress message lists, newest last.
DONE_SHOWN = 6


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"executus:cancel:(?P<run_id>[0-9a-f]+)"):
    """A Cancel button that survives view objects being dropped: the run id
    lives in the custom_id, and the bot routes the click to its RunService."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            discord.ui.Button(label=CANCEL_LABEL, style=discord.ButtonStyle.danger, custom_id=f"executus:cancel:{run_id}")
        )
        self.run_id = run_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(match["run_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        runs: RunService = interaction.client.services.runs
        outcome = runs.cancel(self.run_id, interaction.user.id, interaction.permissions.manage_guild)
        await interaction.response.send_message(outcome, ephemeral=True)


def _count_down(counts: dict[str, int], tool: str) -> None:
    """One call of ``tool`` fewer in ``counts``; gone at none."""
    left = counts.get(tool, 1) - 1
    if left:
        counts[tool] = left
    else:
        counts.pop(tool, None)


def cancel_view(run_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(run_id))
    return view


class ProgressMessage:
    """Owns one progress message; ``on_step`` is the run's StepEvent observer,
    ``choosing`` is told the tools a streamed model turn is choosing."""

    def __init__(
        self,
        message: discord.Message | discord.PartialMessage,
        run_id: str,
        agent_name: str,
        clock: Clock | None = None,
        resumed: bool = False,
    ) -> None:
        self._message = message
        self._resumed = resumed
        self._run_id = run_id
        self._agent = agent_name
        self._step = 0
        self._max_steps = 0
        self._choosing: list[str] = []
        self._running: dict[str, int] = {}
        #: Gated calls waiting for a person's approval, by tool.
        self._awaiting: dict[str, int] = {}
        self._done: list[str] = []
        self._edits = Coalescer(self._edit, MIN_EDIT_INTERVAL, clock or MonotonicClock())
        self._started = time.monotonic()

    def on_step(self, event: StepEvent) -> None:
        self._step, self._max_steps = event.index + 1, event.max_steps
        if event.kind == "model":
            self._choosing = []
        elif event.kind == "tool_start":
            self._choosing = [t for t in self._choosing if t != event.tool]
            self._running[event.tool] = self._running.get(event.tool, 0) + 1
        elif event.kind == "tool_end":
            _count_down(self._running, event.tool)
            self._done = (self._done + [tool_done(event.tool, event.is_error)])[-DONE_SHOWN:]
        elif event.kind == "approval_wait":
            self._awaiting[event.tool] = self._awaiting.get(event.tool, 0) + 1
        elif event.kind == "approval_end":
            _count_down(self._awaiting, event.tool)
        self._edits.changed()

    def choosing(self, tool: str) -> None:
        """The model, still writing its turn, has begun a call to ``tool``."""
        self._choosing.append(tool)
        self._edits.changed()

    def render(self) -> str:
        seconds = time.monotonic() - self._started
        return progress_working(
            self._agent,
            self._step,
            self._max_steps,
            self._running,
            self._done,
            self._run_id,
            seconds,
            self._choosing,
            self._resumed,
            self._awaiting,
        )

    async def _edit(self) -> None:
        try:
            await self._message.edit(content=self.render(), allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("run %s: progress edit failed: %s", self._run_id, exc)

    async def finish(self, result: Result) -> None:
        """Final state, without the Cancel button. Waits for a pending edit so
        the last word is always this one."""
        await self._edits.stop()
        try:
            await self._message.edit(
                content=progress_finished(self._agent, result, self._resumed), view=None, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:
            log.warning("run %s: final progress edit failed: %s", self._run_id, exc)


class Notices(Protocol):
    """The interrupted runs whose threads are owed a word (the store's runs)."""

    async def notices_pending(self) -> list[InterruptedRun]: ...

    async def claim_notice(self, run_id: str) -> bool: ...


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
        if not _serves(client, run.guild_id) or not await notices.claim_notice(run.run_id):
            continue
        channel = client.get_partial_messageable(int(run.thread_id))
        try:
            await withdraw_drafts(channel, run.drafts)
            await channel.send(interrupted_note(run.run_id), allowed_mentions=NO_PINGS)
            await channel.get_partial_message(int(run.progress_message_id)).edit(
                content=progress_interrupted(run.agent_name, run.run_id), view=None, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:  # the thread or the message is gone: nothing left to tell
            log.warning("run %s: could not report it interrupted in thread %s: %s", run.run_id, run.thread_id, exc)
        else:
            announced += 1
    if announced:
        log.info("told %d thread(s) that their run was interrupted", announced)
    return announced


def _serves(client: discord.Client, scope: str) -> bool:
    """Whether this process tells the runs of ``scope``: a guild on one of
    its shards, or DMs (the personal scope), which Discord sends to shard 0."""
    if scope == PERSONAL_SCOPE:
        return receives_dms(client)
    return scope.isdigit() and client.get_guild(int(scope)) is not None


def receives_dms(client: discord.Client) -> bool:
    """Whether this process runs shard 0, the one Discord sends DMs to."""
    shards = getattr(client, "shards", None)
    return not shards or 0 in shards
