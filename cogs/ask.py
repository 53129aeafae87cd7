"""/ask, /thread, and the messages the bot reads: handed to the owner of
thread conversations (``bot/discord_host/conversations.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.client import ExecutusBot
from bot.discord_host.permissions import admin_only, interaction_is_admin, member_roles
from bot.messages.conversation import ASK_IN_A_TEXT_CHANNEL, NOT_AN_AGENT_THREAD, agent_choice, thread_opened
from bot.messages.direct import NOT_IN_THIS_SERVER

MAX_PROMPT = 4000


class AskCog(commands.Cog):
    def __init__(self, bot: ExecutusBot) -> None:
        self.bot = bot
        self.conversations = bot.conversations
        #: The catch-up after downtime, started once per process (on_ready also follows reconnects).
        self._catching_up: asyncio.Task[None] | None = None

    async def cog_unload(self) -> None:
        if self._catching_up is not None:
            self._catching_up.cancel()
            await asyncio.gather(self._catching_up, return_exceptions=True)

    @app_commands.command(name="ask", description="Ask an agent. It answers in a new thread.")
    @app_commands.describe(
        prompt="What you want the agent to do", agent="Which agent (see /agents)", image="An image for the agent to look at"
    )
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def ask(
        self,
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, MAX_PROMPT],
        agent: str | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        if isinstance(interaction.channel, discord.DMChannel):  # the member's DM with the bot
            await self.bot.direct.ask(interaction, interaction.channel, prompt, agent, image)
            return
        if interaction.guild_id is not None and self.bot.get_guild(interaction.guild_id) is None:
            # Installed by the member, used in a server the bot is not in: no thread can be opened there.
            await interaction.response.send_message(NOT_IN_THIS_SERVER, ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        if not isinstance(interaction.channel, discord.TextChannel | discord.Thread):
            await interaction.followup.send(ASK_IN_A_TEXT_CHANNEL)
            return
        await self.conversations.ask(interaction, interaction.channel, prompt, agent, image)

    @ask.autocomplete("agent")
    async def agent_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        available = self.bot.services.agents.available_to(member_roles(interaction.user), interaction_is_admin(interaction))
        wanted = current.lower()
        return [
            app_commands.Choice(name=agent_choice(a.name, a.description), value=a.id)
            for a in available
            if wanted in a.id.lower() or wanted in a.name.lower()
        ][:25]

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
        if not await self.conversations.set_open(interaction.channel_id, open_to_all):
            await interaction.response.send_message(NOT_AN_AGENT_THREAD, ephemeral=True)
            return
        await interaction.response.send_message(thread_opened(open_to_all))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        dm = isinstance(message.channel, discord.DMChannel)  # a DM is a conversation of its own
        await (self.bot.direct.take if dm else self.conversations.take)(message)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self._catching_up is None:
            self._catching_up = asyncio.create_task(self._catch_up(), name="catch up after downtime")

    async def _catch_up(self) -> None:
        """Agent threads and DMs, side by side."""
        await asyncio.gather(self.conversations.catch_up(), self.bot.direct.catch_up())


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(AskCog(bot))
