"""A streamed answer: it grows in the thread while the model writes it.

The run's deltas land in a buffer (the executor calls ``on_delta`` from the
run's own task and must not wait); a Coalescer shows the buffer in draft
messages at most once per EDIT_INTERVAL, split as the final answer will be
(``bot/splitting.py``), a code block still open at the end closed for show.
Past 2,000 characters the answer spills into another draft.

Only answer text is shown. A model turn that turns out to call tools (a
``ToolCallDelta``) is not the answer: its text is dropped and its drafts
removed, and the progress message names the tool being chosen instead. Each
model call starts with a ``model`` step event, so a new turn starts over.

The drafts are never the final word: delivery settles them into the exact
messages an unstreamed answer is sent as (``Drafts.settle``). A run that
fails, a stream cut off midway included, has its drafts replaced by the
error line, so nothing half-written stays in the thread as if it were the
answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence

import discord

from bot.coalesce import Clock, Coalescer
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.progress import ProgressMessage
from bot.splitting import split_unfinished
from executor.llm import StreamDelta, TextDelta
from executor.tools import StepEvent

#: At most one edit per second per message (Discord allows about five per
#: five seconds per channel, and the progress message shares them).
EDIT_INTERVAL = 1.0


class StreamedAnswer:
    """The drafts of one run's answer in ``channel``. ``on_step`` and
    ``on_delta`` are the run's observers (steps go on to ``progress``);
    :meth:`settle` is the Drafts delivery ends them with."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        progress: ProgressMessage,
        clock: Clock,
        on_draft: Callable[[discord.Message], Awaitable[object]] | None = None,
    ) -> None:
        self._channel = channel
        self._progress = progress
        #: Told of every draft posted, so that one left by a process that died can be withdrawn.
        self._on_draft = on_draft
        self._text = ""
        #: This turn calls tools: its text is not the answer.
        self._calls_tools = False
        #: The drafts posted, each with the text it shows.
        self._drafts: list[tuple[discord.Message, str]] = []
        self._edits = Coalescer(self._show, EDIT_INTERVAL, clock)

    def on_step(self, event: StepEvent) -> None:
        self._progress.on_step(event)
        if event.kind != "model":
            return
        self._text, self._calls_tools = "", False
        if not self._drafts:
            # The first draft of a turn waits an interval: a short preamble
            # before a tool call is then usually never posted at all.
            self._edits.hold()

    def on_delta(self, delta: StreamDelta) -> None:
        if isinstance(delta, TextDelta):
            if not self._calls_tools:
                self._text += delta.text
                self._edits.changed()
            return
        self._progress.choosing(delta.name)
        if not self._calls_tools:
            self._calls_tools, self._text = True, ""
            self._edits.changed()

    async def _show(self) -> None:
        """Make the drafts show the buffer: edit those that changed, post
        what spilled over, delete what is no longer there. A draft someone
        deleted is posted again, with those after it."""
        chunks = split_unfinished(self._text)
        for i, chunk in enumerate(chunks):
            if i < len(self._drafts) and self._drafts[i][1] != chunk and not await self._edit(i, chunk):
                await self._drop(i)
            if i == len(self._drafts):
                draft = await self._channel.send(chunk, allowed_mentions=NO_PINGS)
                self._drafts.append((draft, chunk))
                if self._on_draft is not None:
                    await self._on_draft(draft)
        await self._drop(len(chunks))

    async def _edit(self, i: int, chunk: str) -> bool:
        """Show ``chunk`` in draft ``i``; False when that draft was deleted
        (by a moderator, or the member)."""
        message = self._drafts[i][0]
        try:
            await message.edit(content=chunk, allowed_mentions=NO_PINGS)
        except discord.NotFound:
            return False
        self._drafts[i] = (message, chunk)
        return True

    async def _drop(self, keep: int) -> None:
        while len(self._drafts) > keep:
            message, _ = self._drafts.pop()
            with contextlib.suppress(discord.NotFound):  # someone deleted it already
                await message.delete()

    async def settle(self, chunks: Sequence[str]) -> int:
        """Stop showing the stream; the drafts become the first of ``chunks``
        (edited where they differ) and the rest are deleted. Returns how
        many chunks the drafts now show: from a deleted draft on, the
        answer goes out as new messages."""
        await self._edits.stop()
        kept = 0
        for i in range(min(len(chunks), len(self._drafts))):
            if self._drafts[i][1] != chunks[i] and not await self._edit(i, chunks[i]):
                break
            kept = i + 1
        await self._drop(kept)
        return kept
