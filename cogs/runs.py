"""/agents, /cancel, /runs, /run and /usage: what members can see of their runs."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.client import ExecutusBot
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.direct import scope_of
from bot.discord_host.permissions import interaction_is_admin, member_roles, role_ids
from bot.messages.budget import usage_text
from bot.messages.channel_agents import bindings_list
from bot.messages.conversation import NO_RUN_HERE, agents_list
from bot.messages.runs import NO_RUNS, OTHERS_RUNS_ARE_ADMINS, no_such_run, run_detail, runs_list
from bot.splitting import fit


class RunsCog(commands.Cog):
    def __init__(self, bot: ExecutusBot) -> None:
        self.services = bot.services
        self.store = bot.services.store

    @app_commands.command(name="agents", description="The agents you can run")
    @app_commands.guild_only()
    async def agents(self, interaction: discord.Interaction[Any]) -> None:
        available = self.services.agents.available_to(member_roles(interaction.user), interaction_is_admin(interaction))
        text = agents_list(((a.id, a.name, a.description) for a in available), self.services.settings.default_agent)
        bindings = await self.store.channel_agents.in_guild(str(interaction.guild_id))
        listed = bindings_list((f"<#{b.channel_id}>", b.agent_id) for b in bindings)
        text = fit(f"{text}\n\n{listed}") if listed else text
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="cancel", description="Cancel your run in this thread (or a run by id)")
    @app_commands.describe(run_id="The run to cancel; default: the run going in this thread")
    @app_commands.guild_only()
    async def cancel(self, interaction: discord.Interaction[Any], run_id: str | None = None) -> None:
        runs, admin, me = self.services.runs, interaction_is_admin(interaction), str(interaction.user.id)
        if run_id is None:
            mine = [a for a in runs.runs_in_thread(str(interaction.channel_id)) if a.caller_id == me or admin]
            if not mine:
                await interaction.response.send_message(NO_RUN_HERE, ephemeral=True)
                return
            run_id = mine[0].run_id
        text = runs.cancel(run_id.strip().strip("`"), interaction.user.id, admin)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="runs", description="Recent runs: yours, or (admins) a member's or everyone's")
    @app_commands.describe(member="Admins: whose runs (default: everyone's for admins, yours otherwise)")
    @app_commands.guild_only()
    async def runs(self, interaction: discord.Interaction[Any], member: discord.Member | None = None) -> None:
        admin = interaction_is_admin(interaction)
        if member is not None and member.id != interaction.user.id and not admin:
            await interaction.response.send_message(OTHERS_RUNS_ARE_ADMINS, ephemeral=True)
            return
        who: str | None = str(member.id) if member else (None if admin else str(interaction.user.id))
        recent = await self.store.runs.recent(str(interaction.guild_id), who, limit=15)
        text = runs_list(recent, show_caller=who is None) if recent else NO_RUNS
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="run", description="One run with its steps and tool calls")
    @app_commands.describe(run_id="The run id shown under an answer")
    @app_commands.guild_only()
    async def run(self, interaction: discord.Interaction[Any], run_id: str) -> None:
        detail = await self.store.runs.detail(run_id.strip().strip("`"), str(interaction.guild_id))
        if detail is None or (detail.run.caller_id != str(interaction.user.id) and not interaction_is_admin(interaction)):
            await interaction.response.send_message(no_such_run(run_id), ephemeral=True)
            return
        await interaction.response.send_message(run_detail(detail), ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="usage", description="Your spend and limits this day, week and month")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def usage(self, interaction: discord.Interaction[Any]) -> None:
        """In a server, that server's budget; in a DM, the personal one."""
        user = interaction.user
        usage = await self.store.budget.usage(scope_of(interaction), str(user.id), role_ids(user))
        await interaction.response.send_message(usage_text(usage), ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(RunsCog(bot))
