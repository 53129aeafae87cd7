"""The Delivery port for Discord: answers and errors into a thread.

Text is split under 2,000 characters without breaking code blocks; nobody is
ever pinged (model output can contain ``@everyone`` or role mentions); PostRun
artifacts are uploaded within the upload size limit and 10 files a message,
and what does not fit is named in the thread, never silently dropped.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot.messages import describe_error
from bot.text import fit, split_message
from executor import Result, Target
from executor.tools import Artifact

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
MAX_FILES_PER_MESSAGE = 10
#: Discord's upload limit for a server without boosts, used when the
#: interaction did not tell us a larger one.
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
EMPTY_ANSWER = "(The agent finished without a written answer.)"


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


class DiscordDelivery:
    """Delivers to a channel or thread by id.

    ``upload_limit`` gives the upload size limit for a run (the interaction's
    ``attachment_size_limit``); it falls back to DEFAULT_UPLOAD_LIMIT.
    """

    def __init__(self, client: discord.Client, upload_limit: Callable[[str], int | None] = lambda run_id: None) -> None:
        self._client = client
        self._upload_limit = upload_limit

    async def deliver(self, target: Target, result: Result) -> None:
        channel = await self._channel(target.id)
        chunks = split_message(result.output) or [EMPTY_ANSWER]
        await self._send(channel, chunks, result)

    async def deliver_error(self, target: Target, result: Result) -> None:
        channel = await self._channel(target.id)
        assert result.err is not None
        line = describe_error(result.err, result.run_id)
        chunks = [*split_message(result.output), line] if result.output else [line]
        await self._send(channel, chunks, result)

    async def _send(self, channel: discord.abc.Messageable, chunks: list[str], result: Result) -> None:
        artifacts = result.post_run_result.artifacts if result.post_run_result else []
        limit = self._upload_limit(result.run_id) or DEFAULT_UPLOAD_LIMIT
        batches = pack_artifacts(artifacts, limit)
        for chunk in chunks[:-1]:
            await channel.send(chunk, allowed_mentions=NO_PINGS)
        first_files = batches.groups[0] if batches.groups else []
        await channel.send(chunks[-1], files=_files(first_files), allowed_mentions=NO_PINGS)
        for group in batches.groups[1:]:
            await channel.send(files=_files(group), allowed_mentions=NO_PINGS)
        if batches.too_big:
            names = ", ".join(f"`{a.name}` ({len(a.data) / 1_048_576:.1f} MiB)" for a in batches.too_big)
            await channel.send(
                fit(f"📎 Not attached, larger than this server's upload limit of {limit / 1_048_576:.0f} MiB: {names}"),
                allowed_mentions=NO_PINGS,
            )

    async def _channel(self, channel_id: str) -> discord.abc.Messageable:
        cid = int(channel_id)
        channel = self._client.get_channel(cid) or await self._client.fetch_channel(cid)
        if not isinstance(channel, discord.abc.Messageable):
            raise TypeError(f"channel {channel_id} cannot receive messages")
        return channel


def _files(artifacts: list[Artifact]) -> list[discord.File]:
    return [discord.File(io.BytesIO(a.data), filename=a.name) for a in artifacts]
