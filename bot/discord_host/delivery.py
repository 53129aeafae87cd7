"""The answer of a run, sent into the thread that holds its conversation.

Text is split under 2,000 characters without breaking code blocks; nobody is
ever pinged (model output can contain ``@everyone`` or role mentions); PostRun
artifacts are uploaded within the upload size limit and 10 files a message,
and what does not fit is named in the thread, never silently dropped. A
streamed answer's drafts become the first messages of the same answer.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import discord

from bot.messages.conversation import EMPTY_ANSWER, too_big_to_attach
from bot.messages.failures import describe_error
from bot.splitting import split_message
from executor import Result
from executor.tools import Artifact

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
MAX_FILES_PER_MESSAGE = 10


@dataclass(frozen=True, slots=True)
class Batches:
    groups: list[list[Artifact]]
    too_big: list[Artifact]


def pack_artifacts(artifacts: list[Artifact], size_limit: int) -> Batches:
    """Group artifacts into messages of at most 10 files and ``size_limit``
    bytes; a single file over the limit cannot be sent and is returned apart."""
    groups: list[list[Artifact]] = []
    too_big: list[Artifact] = []
    current: list[Artifact] = []
    total = 0
    for art in artifacts:
        size = len(art.data)
        if size > size_limit:
            too_big.append(art)
            continue
        if current and (len(current) == MAX_FILES_PER_MESSAGE or total + size > size_limit):
            groups.append(current)
            current, total = [], 0
        current.append(art)
        total += size
    if current:
        groups.append(current)
    return Batches(groups, too_big)


class Drafts(Protocol):
    """Messages already in the thread that showed the answer while it was
    being written (a streamed answer)."""

    async def settle(self, chunks: Sequence[str]) -> int:
        """Make the drafts show the first of ``chunks``, exactly, and remove
        the drafts left over; returns how many chunks they now show."""
        ...


def answer_chunks(result: Result) -> list[str]:
    """The messages that answer ``result``: its output split to fit, then the
    error line when it failed. Never empty."""
    if result.err is None:
        return split_message(result.output) or [EMPTY_ANSWER]
    line = describe_error(result.err, result.run_id)
    return [*split_message(result.output), line] if result.output else [line]


async def deliver(
    channel: discord.abc.Messageable, result: Result, upload_limit: int, drafts: Drafts | None = None
) -> None:
    """Send ``result`` into ``channel``: the answer (or the partial answer and
    the error line), then its files within ``upload_limit`` bytes a message.
    ``drafts`` take the first messages, so a streamed answer ends as the same
    messages an unstreamed one is sent as. Raises what Discord raises; the
    caller decides what a failed send means."""
    chunks = answer_chunks(result)
    artifacts = result.post_run_result.artifacts if result.post_run_result else []
    batches = pack_artifacts(artifacts, upload_limit)
    groups = batches.groups
    rest = chunks[await drafts.settle(chunks) :] if drafts is not None else chunks
    for chunk in rest[:-1]:
        await channel.send(chunk, allowed_mentions=NO_PINGS)
    if rest:
        await channel.send(rest[-1], files=_files(groups[0] if groups else []), allowed_mentions=NO_PINGS)
        groups = groups[1:]
    for group in groups:
        await channel.send(files=_files(group), allowed_mentions=NO_PINGS)
    if batches.too_big:
        await channel.send(
            too_big_to_attach([(a.name, len(a.data)) for a in batches.too_big], upload_limit), allowed_mentions=NO_PINGS
        )


def _files(artifacts: list[Artifact]) -> list[discord.File]:
    return [discord.File(io.BytesIO(a.data), filename=a.name) for a in artifacts]


async def withdraw_drafts(
    channel: discord.Thread | discord.DMChannel | discord.PartialMessageable, message_ids: Sequence[str]
) -> None:
    """Delete the drafts a run posted before its process died (they show a
    half-written answer as if it were one). Best effort: one already gone,
    or that cannot be deleted, is left."""
    for message_id in message_ids:
        try:
            await channel.get_partial_message(int(message_id)).delete()
        except (discord.HTTPException, ValueError) as exc:
            if not isinstance(exc, discord.NotFound):
                log.warning("could not withdraw draft %s: %s", message_id, exc)
