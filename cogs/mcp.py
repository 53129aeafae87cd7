"""/mcp list and /mcp review: the MCP servers, their state and tools, and
the tool changes awaiting an admin (Manage Server, checked on every call)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.client import ExecutusBot
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.mcp_review import ReviewView
from bot.discord_host.permissions import admin_only
from bot.messages.mcp import NOTHING_TO_REVIEW, REVIEW_SHOWN, review_header, review_of, servers_list


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class McpCog(commands.GroupCog, group_name="mcp", group_description="MCP tool servers (Manage Server)"):
    def __init__(self, bot: ExecutusBot) -> None:
        self.mcp = bot.services.mcp
        super().__init__()

    @app_commands.command(name="list", description="Each MCP server, its state and its tools")
    @admin_only()
    async def list_(self, interaction: discord.Interaction[Any]) -> None:
        text = servers_list(await self.mcp.states())
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="review", description="Changed MCP tools: see what changed and approve it")
    @admin_only()
    async def review(self, interaction: discord.Interaction[Any]) -> None:
        held = await self.mcp.held()
        if not held:
            await interaction.response.send_message(NOTHING_TO_REVIEW, ephemeral=True)
            return
        await interaction.response.send_message(review_header(len(held)), ephemeral=True)
        for pin in held[:REVIEW_SHOWN]:
            view = ReviewView(self.mcp, pin)
            await interaction.followup.send(review_of(pin), view=view, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(McpCog(bot))
