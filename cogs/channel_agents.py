"""/agent bind and /agent unbind: admins give a channel (its threads and
forum posts included) an agent of its own. The checks and the store are
``bot/discord_host/channel_agents.py``'s; /agents lists the bindings."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host import channel_agents
from bot.discord_host.client import ExecutusBot
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.permissions import admin_only
from bot.messages.conversation import agent_choice


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ChannelAgentsCog(commands.GroupCog, group_name="agent", group_description="The agent a channel runs"):
    def __init__(self, bot: ExecutusBot) -> None:
        self.services = bot.services
        super().__init__()

    @app_commands.command(name="bind", description="Mentions and /ask without an agent in this channel run this agent")
    @app_commands.describe(channel="A text or forum channel", agent="The agent (see /agents)")
    @admin_only()
    async def bind(self, interaction: discord.Interaction[Any], channel: channel_agents.Picked, agent: str) -> None:
        assert interaction.guild is not None  # guild_only
        store, agents = self.services.store.channel_agents, self.services.agents.agents
        text = await channel_agents.bind(store, agents, interaction.guild, channel, agent.strip(), interaction.user.id)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @bind.autocomplete("agent")
    async def agent_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        wanted = current.lower()
        return [
            app_commands.Choice(name=agent_choice(a.name, a.description), value=a.id)
            for a in self.services.agents.agents.values()
            if wanted in a.id.lower() or wanted in a.name.lower()
        ][:25]

    @app_commands.command(name="unbind", description="The channel goes back to the default agent")
    @app_commands.describe(channel="A channel bound with /agent bind")
    @admin_only()
    async def unbind(self, interaction: discord.Interaction[Any], channel: channel_agents.Picked) -> None:
        assert interaction.guild is not None  # guild_only
        text = await channel_agents.unbind(self.services.store.channel_agents, interaction.guild, channel)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(ChannelAgentsCog(bot))
