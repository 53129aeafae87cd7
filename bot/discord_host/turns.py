"""A member's turn in a conversation (a thread, or a DM) as the run it asks for."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.agents import AgentDefinition
from bot.discord_host.attachments import ReadImages, describe
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.permissions import role_ids
from bot.messages.conversation import FILES_ONLY_PROMPT, files_refused
from bot.run_service import RunRequest


async def member_turn(
    channel: discord.Thread | discord.DMChannel,
    agent: AgentDefinition,
    member: discord.abc.User,
    scope: str,
    prompt: str,
    attachments: Sequence[discord.Attachment],
    images: ReadImages,
) -> RunRequest:
    """The run of ``member``'s turn in ``channel`` (budgets and memories in
    ``scope``), after naming there the files the agent will not see."""
    notice = files_refused(images.refused)
    if notice is not None:
        await channel.send(notice, allowed_mentions=NO_PINGS)
    return RunRequest(
        agent=agent.runnable(),
        caller_id=str(member.id),
        caller_roles=tuple(role_ids(member)),
        guild_id=scope,
        thread_id=str(channel.id),
        prompt=prompt or FILES_ONLY_PROMPT,
        images=images.images,
        attachments=describe(attachments),
        session_tools=agent.session_tools,
        stream=agent.stream,
        cheaper_tier=agent.cheaper_tier,
    )
