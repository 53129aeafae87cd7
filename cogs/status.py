"""/executus status: the bot's version, uptime, shards, runs and dependencies (Manage Server)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.client import ExecutusBot
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.permissions import admin_only
from bot.discord_host.status import bot_status
from bot.messages.status import status_text


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class StatusCog(commands.GroupCog, group_name="executus", group_description="The bot itself (Manage Server)"):
    def __init__(self, bot: ExecutusBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="status", description="Version, uptime, shards, runs, database and model providers")
    @admin_only()
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True)  # the database check may take a moment
        text = status_text(await bot_status(self.bot))
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(StatusCog(bot))
