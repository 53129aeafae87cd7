"""/ask, mentions and follow-ups in agent threads."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.agents import AgentDefinition
from bot.attachments import ReadImages, describe, read_images
from bot.client import ExecutusBot
from bot.delivery import NO_PINGS
from bot.permissions import (
    admin_only,
    interaction_is_admin,
    member_is_admin,
    member_roles,
)
from bot.runs import RunRequest
from bot.store import AgentThread
from bot.text import fit, quoted, thread_name

log = logging.getLogger(__name__)

MAX_PROMPT = 4000
NO_THREADS = (
    "I cannot open a thread in this channel: a server admin needs to give me "
    "**Create Public Threads** and **Send Messages in Threads** here."
)
#: At start-up, agent threads active this recently are checked for messages
#: posted while the bot was down, at most CATCH_UP_LIMIT per thread.
CATCH_UP_WINDOW = timedelta(days=1)
CATCH_UP_LIMIT = 20
#: Threads archive after a day without messages; a follow-up reopens them.
ARCHIVE_MINUTES: Literal[1440] = 1440


class AskCog(commands.Cog):
    def __init__(self, bot: ExecutusBot) -> None:
        self.bot = bot
        self.store = bot.core.store
        self.agents = bot.core.agents
        self._caught_up = False
        self._catching_up: set[asyncio.Task[None]] = set()
        # Message ids taken up lately: the same message can arrive live and
        # through the start-up catch-up at once.
        self._taken: OrderedDict[int, None] = OrderedDict()

    # -- choosing an agent --------------------------------------------------

    def pick_agent(self, requested: str | None, roles: list[str], is_admin: bool) -> AgentDefinition | str:
        """The agent to run, or the refusal to show."""
        name = requested or self.bot.core.settings.default_agent
        agent = self.agents.agents.get(name)
        if agent is None:
            names = ", ".join(f"`{a.id}`" for a in self.agents.available_to(roles, is_admin)) or "none"
            return fit(f"There is no agent called `{fit(name, 100)}`. Agents you can run: {names}.")
        if not agent.may_run(roles, is_admin):
            return f"You are not allowed to run `{agent.id}`. Use /agents to see the ones you can."
        return agent

    # -- /ask ---------------------------------------------------------------

    @app_commands.command(name="ask", description="Ask an agent. It answers in a new thread.")
    @app_commands.describe(
        prompt="What you want the agent to do", agent="Which agent (see /agents)", image="An image for the agent to look at"
    )
    @app_commands.guild_only()
    async def ask(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, MAX_PROMPT],
        agent: str | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        await interaction.response.defer(thinking=True)
        picked = self.pick_agent(agent, member_roles(interaction.user), interaction_is_admin(interaction))
        if isinstance(picked, str):
            await interaction.followup.send(picked, allowed_mentions=NO_PINGS)
            return
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel):
            await interaction.followup.send(
                "Use /ask in a text channel; inside an agent thread, just write your follow-up as a message."
            )
            return
        attachments = [image] if image else []
        images = await read_images(attachments)
        try:
            thread = await channel.create_thread(
                name=thread_name(prompt),
                type=discord.ChannelType.public_thread,
                auto_archive_duration=ARCHIVE_MINUTES,
            )
        except discord.Forbidden:
            await interaction.followup.send(NO_THREADS)
            return
        await self._register(thread, picked, interaction.user)
        await interaction.followup.send(
            fit(f"🧵 **{picked.name}** is answering in {thread.mention}"), allowed_mentions=NO_PINGS
        )
        # The echo may take several messages: /ask takes twice what one holds.
        for part in quoted(f"**{interaction.user.display_name}** asked:", prompt):
            await thread.send(part, allowed_mentions=NO_PINGS)
        await self._tell_refused(thread, images)
        request = self._request(picked, interaction.user, thread, prompt, attachments, images.images)
        request.upload_limit = interaction.filesize_limit
        await self.bot.runner.run(thread, request, picked.name)

    @ask.autocomplete("agent")
    async def agent_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        roles, admin = member_roles(interaction.user), interaction_is_admin(interaction)
        return [
            app_commands.Choice(name=f"{a.name} — {a.description}"[:100], value=a.id)
            for a in self.agents.available_to(roles, admin)
            if current.lower() in a.id.lower() or current.lower() in a.name.lower()
        ][:25]

    # -- /thread ------------------------------------------------------------

    thread_group = app_commands.Group(
        name="thread",
        description="Who may talk to the agent in this thread",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @thread_group.command(name="open", description="Let everyone continue the conversation in this agent thread")
    @admin_only()
    async def thread_open(self, interaction: discord.Interaction[Any]) -> None:
        await self._set_open(interaction, True)

    @thread_group.command(name="close", description="Only the member who started this thread may continue it")
    @admin_only()
    async def thread_close(self, interaction: discord.Interaction[Any]) -> None:
        await self._set_open(interaction, False)

    async def _set_open(self, interaction: discord.Interaction[Any], open_to_all: bool) -> None:
        channel_id = str(interaction.channel_id)
        if not await self.store.threads.set_open_to_all(channel_id, open_to_all):
            await interaction.response.send_message("This is not an agent thread.", ephemeral=True)
            return
        who = "everyone" if open_to_all else "only the member who started it"
        await interaction.response.send_message(f"This thread now takes follow-ups from {who}.")

    # -- messages: mentions and follow-ups ------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not is_prompt(message):
            return
        if isinstance(message.channel, discord.Thread):
            record = await self.store.threads.get(str(message.channel.id))
            if record is not None:
                await self._follow_up(message, message.channel, record)
                return
        me = self.bot.user
        if me is not None and me in message.mentions and isinstance(message.channel, discord.TextChannel):
            await self._mention(message, message.channel)

    async def _mention(self, message: discord.Message, channel: discord.TextChannel) -> None:
        prompt = strip_mentions(message.content, self.bot.user.id if self.bot.user else 0)
        if not prompt and not message.attachments:
            await answer(message, "Ask me something after the mention, or use /ask.")
            return
        picked = self.pick_agent(None, member_roles(message.author), member_is_admin(message.author, channel))
        if isinstance(picked, str):
            await answer(message, picked)
            return
        images = await read_images(message.attachments)
        try:
            thread = await message.create_thread(name=thread_name(prompt), auto_archive_duration=ARCHIVE_MINUTES)
        except discord.Forbidden:
            await answer(message, NO_THREADS)
            return
        await self._register(thread, picked, message.author)
        await self._tell_refused(thread, images)
        prompt = prompt or "Look at the attached file(s)."
        request = self._request(picked, message.author, thread, prompt, message.attachments, images.images)
        await self.bot.runner.run(thread, request, picked.name)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Once per process: take up messages posted in recently active agent
        threads while the bot was down (Discord does not replay them)."""
        if self._caught_up:
            return
        self._caught_up = True
        since = datetime.now(UTC) - CATCH_UP_WINDOW
        for record in await self.store.threads.active_since(since):
            task = asyncio.create_task(self._catch_up(record), name=f"catch-up {record.thread_id}")
            self._catching_up.add(task)  # a reference, so the task is not collected mid-way
            task.add_done_callback(self._catching_up.discard)

    async def _catch_up(self, record: AgentThread) -> None:
        try:
            thread = self.bot.get_channel(int(record.thread_id)) or await self.bot.fetch_channel(int(record.thread_id))
        except discord.HTTPException as exc:
            log.info("catch-up: thread %s is gone (%s)", record.thread_id, exc.status)
            return
        if not isinstance(thread, discord.Thread):
            return
        after = discord.Object(record.last_message_id) if record.last_message_id else None
        missed = [m async for m in thread.history(after=after, oldest_first=True, limit=CATCH_UP_LIMIT) if is_prompt(m)]
        if missed:
            log.info("catch-up: %d message(s) posted in thread %s while the bot was down", len(missed), thread.id)
        for message in missed:
            await self._follow_up(message, thread, record)

    async def _follow_up(self, message: discord.Message, thread: discord.Thread, record: AgentThread) -> None:
        if message.id in self._taken:
            return
        self._taken[message.id] = None
        if len(self._taken) > 1024:
            self._taken.popitem(last=False)
        # Claimed first: a message is taken up once, answered or refused, by
        # one process of any sharing this database (and bot token).
        if not await self.store.threads.mark_handled(record.thread_id, message.id):
            return
        author = message.author
        if str(author.id) != record.starter_id and not record.open_to_all and not member_is_admin(author, thread):
            await answer(
                message,
                f"Only <@{record.starter_id}> can continue this conversation. "
                "Start your own with /ask, or ask an admin to run /thread open here.",
            )
            return
        agent = self.agents.agents.get(record.agent_id)
        if agent is None:
            await answer(
                message,
                f"The agent `{record.agent_id}` of this thread is no longer available. Start a new one with /ask.",
            )
            return
        images = await read_images(message.attachments)
        await self._tell_refused(thread, images)
        prompt = strip_mentions(message.content, self.bot.user.id if self.bot.user else 0) or "Look at the attached file(s)."
        request = self._request(agent, author, thread, prompt, message.attachments, images.images)
        await self.bot.runner.run(thread, request, agent.name)

    # -- helpers ------------------------------------------------------------------

    @staticmethod
    async def _tell_refused(thread: discord.Thread, images: ReadImages) -> None:
        """Name, in the thread, the attachments the agent will not see."""
        notice = images.notice()
        if notice is not None:
            await thread.send(fit(notice), allowed_mentions=NO_PINGS)

    async def _register(self, thread: discord.Thread, agent: AgentDefinition, starter: discord.abc.User) -> None:
        await self.store.threads.set(
            AgentThread(
                thread_id=str(thread.id),
                guild_id=str(thread.guild.id),
                channel_id=str(thread.parent_id),
                agent_id=agent.id,
                starter_id=str(starter.id),
            )
        )

    @staticmethod
    def _request(
        agent: AgentDefinition,
        member: discord.abc.User,
        thread: discord.Thread,
        prompt: str,
        attachments: list[discord.Attachment],
        images: list[Any],
    ) -> RunRequest:
        return RunRequest(
            agent=agent.runnable(),
            caller_id=str(member.id),
            guild_id=str(thread.guild.id),
            thread_id=str(thread.id),
            prompt=prompt,
            images=images,
            attachments=describe(attachments),
            session_tools=agent.session_tools,
        )


def is_prompt(message: discord.Message) -> bool:
    """A member's ordinary message in a server (not the bot's, not a system message)."""
    return (
        not message.author.bot
        and message.guild is not None
        and message.type in (discord.MessageType.default, discord.MessageType.reply)
    )


async def answer(message: discord.Message, text: str) -> None:
    """Answer a member's message in its channel, naming them without a ping.
    (Not a reply: discord.py sends message_reference ids as integers, which
    Discord's published schema does not allow.)"""
    await message.channel.send(fit(f"{message.author.mention} {text}"), allowed_mentions=NO_PINGS)


def strip_mentions(content: str, bot_id: int) -> str:
    """The prompt without the bot's own mention."""
    return re.sub(rf"<@!?{bot_id}>", "", content).strip()


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(AskCog(bot))
