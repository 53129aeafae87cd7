"""/agents, /cancel, /runs, /run and /usage: what members can see of their runs."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import ExecutusBot
from bot.delivery import NO_PINGS
from bot.permissions import interaction_is_admin, member_roles
from bot.messages import run_detail, run_line, usage_text
from bot.text import fit


class RunsCog(commands.Cog):
    def __init__(self, bot: ExecutusBot) -> None:
        self.bot = bot
        self.store = bot.core.store

    @app_commands.command(name="agents", description="The agents you can run")
    @app_commands.guild_only()
    async def agents(self, interaction: discord.Interaction[Any]) -> None:
        available = self.bot.core.agents.available_to(member_roles(interaction.user), interaction_is_admin(interaction))
        if not available:
            await interaction.response.send_message("No agent is available to you here.", ephemeral=True)
            return
        default = self.bot.core.settings.default_agent
        lines = [
            f"**{a.name}** (`{a.id}`){' · default' if a.id == default else ''}: {a.description}" for a in available
        ]
        await interaction.response.send_message(fit("\n".join(lines)), ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel your run in this thread (or a run by id)")
    @app_commands.describe(run_id="The run to cancel; default: the run going in this thread")
    @app_commands.guild_only()
    async def cancel(self, interaction: discord.Interaction[Any], run_id: str | None = None) -> None:
        service = self.bot.runs
        admin = interaction_is_admin(interaction)
        if run_id is None:
            mine = [
                a
                for a in service.runs_in_thread(str(interaction.channel_id))
                if a.invocation.caller_id == str(interaction.user.id) or admin
            ]
            if not mine:
                await interaction.response.send_message("You have no run going in this channel.", ephemeral=True)
                return
            run_id = mine[0].invocation.run_id
        text = service.cancel(run_id.strip().strip("`"), interaction.user, admin)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="runs", description="Recent runs: yours, or (admins) a member's or everyone's")
    @app_commands.describe(member="Admins: whose runs (default: everyone's for admins, yours otherwise)")
    @app_commands.guild_only()
    async def runs(self, interaction: discord.Interaction[Any], member: discord.Member | None = None) -> None:
        admin = interaction_is_admin(interaction)
        if member is not None and member.id != interaction.user.id and not admin:
            await interaction.response.send_message(
                "⛔ Only members with **Manage Server** can see other members' runs.", ephemeral=True
            )
            return
        who: str | None = str(member.id) if member else (None if admin else str(interaction.user.id))
        recent = await self.store.runs.recent(str(interaction.guild_id), who, limit=15)
        if not recent:
            await interaction.response.send_message("No runs yet.", ephemeral=True)
            return
        text = "\n".join(run_line(r, show_caller=who is None) for r in recent)
        await interaction.response.send_message(fit(text), ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="run", description="One run with its steps and tool calls")
    @app_commands.describe(run_id="The run id shown under an answer")
    @app_commands.guild_only()
    async def run(self, interaction: discord.Interaction[Any], run_id: str) -> None:
        detail = await self.store.runs.detail(run_id.strip().strip("`"), str(interaction.guild_id))
        if detail is None or (detail.run.caller_id != str(interaction.user.id) and not interaction_is_admin(interaction)):
            await interaction.response.send_message(
                f"No run `{fit(run_id, 40)}` of yours here. /runs lists your recent runs.", ephemeral=True
            )
            return
        await interaction.response.send_message(run_detail(detail), ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="usage", description="Your spend and limits this day, week and month")
    @app_commands.guild_only()
    async def usage(self, interaction: discord.Interaction[Any]) -> None:
        usage = await self.store.budget.usage(str(interaction.guild_id), str(interaction.user.id))
        await interaction.response.send_message(usage_text(usage), ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(RunsCog(bot))
