"""/mcp list and /mcp review (Manage Server, checked on every call)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.client import ExecutusBot
from bot.discord_host.mcp_review import show_review, show_servers
from bot.discord_host.permissions import admin_only


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class McpCog(commands.GroupCog, group_name="mcp", group_description="MCP tool servers (Manage Server)"):
    def __init__(self, bot: ExecutusBot) -> None:
        self.mcp = bot.services.mcp
        super().__init__()

    @app_commands.command(name="list", description="Each MCP server, its state and its tools")
    @admin_only()
    async def list_(self, interaction: discord.Interaction[Any]) -> None:
        await show_servers(interaction, self.mcp)

    @app_commands.command(name="review", description="Changed MCP tools: see what changed and approve it")
    @admin_only()
    async def review(self, interaction: discord.Interaction[Any]) -> None:
        await show_review(interaction, self.mcp)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(McpCog(bot))
