"""The one owner of DM conversations: each member's DM with the bot is one
conversation, with no thread, continued by every message the member writes
there and by /ask used there (user-installed or not).

The rules of DMs live here: they can be turned off (DM_ENABLED), they are
answered only for members of a server the bot is in (else anyone who
installs the app could spend the operator's models), and only agents open
to everyone run in them (a DM has no roles). Runs are charged to the
member's personal budget (PERSONAL_SCOPE, the operator's DM_BUDGET_*
settings), and memories made in DMs stay in DMs. Discord delivers DMs on
shard 0, so the process running shard 0 answers them.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from collections.abc import Callable, Sequence
from typing import Any

import discord

from bot.agents import AgentDefinition
from bot.discord_host.attachments import read_images
from bot.discord_host.conversations import CATCH_UP_LIMIT, CATCH_UP_WINDOW
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.progress import receives_dms
from bot.discord_host.thread_runner import ThreadRunner
from bot.discord_host.turns import member_turn
from bot.messages.conversation import asked_by
from bot.messages.direct import DMS_OFF, EMPTY_DM, NO_SHARED_SERVER, answering_below, not_open_in_dms
from bot.services import Services
from bot.splitting import quoted
from bot.store import AgentThread
from bot.store.scopes import PERSONAL_SCOPE

log = logging.getLogger(__name__)

#: How long a member found in a server the bot is in is believed to still be
#: there: membership is checked over REST (no member cache without the
#: privileged members intent), so not on every message.
MEMBERSHIP_TTL = 600.0

def scope_of(interaction: discord.Interaction[Any]) -> str:
    """Where a command acts for the member: this server (its id), or in a DM
    their personal scope."""
    return str(interaction.guild_id) if interaction.guild_id is not None else PERSONAL_SCOPE


PickAgent = Callable[[str | None, discord.abc.User, bool], AgentDefinition | str]


class DirectConversations:
    def __init__(self, client: discord.Client, services: Services, runner: ThreadRunner, pick_agent: PickAgent) -> None:
        self._client = client
        self._services = services
        self._threads = services.store.threads
        self._runner = runner
        self._pick_agent = pick_agent
        #: Members last found in a server of the bot, by user id: monotonic time.
        self._members: dict[int, float] = {}

    async def take(self, message: discord.Message) -> None:
        """A member's message in their DM with the bot: continues the DM
        conversation (starting it with the default agent)."""
        channel = message.channel
        if message.author.bot or not isinstance(channel, discord.DMChannel):
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        # Claimed first, as thread follow-ups are: two processes on one token answer once.
        if not await self._threads.mark_handled(str(channel.id), message.id):
            return
        refusal = await self._refusal(message.author)
        if refusal is None and not message.content.strip() and not message.attachments:
            refusal = EMPTY_DM
        if refusal is not None:
            await channel.send(refusal, allowed_mentions=NO_PINGS)
            return
        record = await self._threads.get(str(channel.id))
        agent = self._agent(None, message.author, record)
        if isinstance(agent, str):
            await channel.send(agent, allowed_mentions=NO_PINGS)
            return
        content = message.content.strip()
        await self._converse(channel, agent, message.author, content, message.attachments, None, record)

    async def ask(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.DMChannel,
        prompt: str,
        agent: str | None,
        image: discord.Attachment | None,
    ) -> None:
        """/ask in the member's DM with the bot: the DM conversation goes on,
        with ``agent`` from now on when one is named. Refusals are ephemeral."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        refusal = await self._refusal(interaction.user)
        if refusal is not None:
            await interaction.followup.send(refusal, ephemeral=True)
            return
        record = await self._threads.get(str(channel.id))
        picked = self._agent(agent, interaction.user, record)
        if isinstance(picked, str):
            await interaction.followup.send(picked, ephemeral=True, allowed_mentions=NO_PINGS)
            return
        await interaction.followup.send(answering_below(picked.name), ephemeral=True)
        for part in quoted(asked_by(interaction.user.display_name), prompt):
            await channel.send(part, allowed_mentions=NO_PINGS)
        attachments = [image] if image else []
        await self._converse(channel, picked, interaction.user, prompt, attachments, interaction.filesize_limit)

    async def catch_up(self) -> None:
        """Once per process, when connected, on the process Discord sends DMs
        to: take up the DMs written in recently active DM conversations while
        the bot was down (Discord does not replay them), each DM in order.
        Messages already taken up are skipped by their claims."""
        if not receives_dms(self._client):
            return
        since = datetime.now(UTC) - CATCH_UP_WINDOW
        for record in await self._threads.active_since(since):
            if record.guild_id == PERSONAL_SCOPE:
                try:
                    await self._catch_up(record)
                except Exception:  # best effort: what is not claimed yet waits for the next start
                    log.exception("catching up DM %s after downtime failed", record.thread_id)

    async def _catch_up(self, record: AgentThread) -> None:
        channel = await self._client.fetch_channel(int(record.thread_id))
        if isinstance(channel, discord.DMChannel):
            after = discord.Object(record.last_message_id) if record.last_message_id else None
            async for message in channel.history(after=after, oldest_first=True, limit=CATCH_UP_LIMIT):
                await self.take(message)

    async def _refusal(self, user: discord.abc.User) -> str | None:
        """Why this user's DM is not answered, or None."""
        if not self._services.settings.dm_enabled:
            return DMS_OFF
        if not await self._shares_a_server(user):
            return NO_SHARED_SERVER
        return None

    async def _shares_a_server(self, user: discord.abc.User) -> bool:
        seen = self._members.get(user.id)
        if seen is not None and time.monotonic() - seen < MEMBERSHIP_TTL:
            return True
        for guild in self._client.guilds:
            if guild.get_member(user.id) is None:
                try:
                    await guild.fetch_member(user.id)
                except discord.NotFound:
                    continue
                except discord.HTTPException as exc:
                    log.warning("could not check whether %s is in server %s: %s", user.id, guild.id, exc.status)
                    continue
            self._members[user.id] = time.monotonic()
            return True
        return False

    def _agent(self, requested: str | None, user: discord.abc.User, record: AgentThread | None) -> AgentDefinition | str:
        """The agent for this DM turn: the one asked for, else the conversation's, else the default;
        only agents open to everyone (a DM has no roles, and no admin)."""
        name = requested or (record.agent_id if record is not None else None)
        picked = self._pick_agent(name, user, False)
        if isinstance(picked, str) and name in self._services.agents.agents:
            return not_open_in_dms(name, (a.id for a in self._services.agents.available_to([], False)))
        return picked

    async def _converse(
        self,
        channel: discord.DMChannel,
        agent: AgentDefinition,
        user: discord.abc.User,
        prompt: str,
        attachments: Sequence[discord.Attachment],
        upload_limit: int | None,
        handled: AgentThread | None = None,
    ) -> None:
        """``handled``: the conversation's record when this turn's message was
        just claimed (``mark_handled`` marked it active), so it need not be
        written again unless the agent changed."""
        # The conversation is the DM channel; its record names the agent that continues it.
        if handled is None or handled.agent_id != agent.id:
            await self._threads.set(
                AgentThread(
                    thread_id=str(channel.id),
                    guild_id=PERSONAL_SCOPE,
                    channel_id=str(channel.id),
                    agent_id=agent.id,
                    starter_id=str(user.id),
                )
            )
        images = await read_images(attachments)
        request = await member_turn(channel, agent, user, PERSONAL_SCOPE, prompt, attachments, images)
        await self._runner.run(channel, request, upload_limit)
