"""/budget: admins tune limits per member and the server default, and see who spent what.

Limited to Manage Server twice: by default member permissions (hidden in the
client) and by a server-side check on every call.
"""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.client import ExecutusBot
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.permissions import admin_only, role_ids
from bot.messages.budget import (
    NO_LIMIT_GIVEN,
    limits_reset,
    limits_set,
    near_limits_text,
    nothing_changed,
    spenders_and_default,
    usage_text,
)
from bot.limit_options import changes_from
from bot.store import MAX_LIMIT, InvalidLimit, Limit, LimitChange, Period, role_key
from executor.llm.pricing import MICROS_PER_USD

#: Discord's client keeps values in these bounds; the store checks them again
#: for any caller (``MAX_LIMIT`` is what the database is sure to hold).
Whole = app_commands.Range[int, 0, MAX_LIMIT]
Seconds = app_commands.Range[float, 0, MAX_LIMIT]
#: Dollars, stored in micro-dollars (``MAX_LIMIT`` of them at most).
Dollars = app_commands.Range[float, 0.0, MAX_LIMIT / MICROS_PER_USD]
PeriodName = Literal["day", "week", "month"]
#: The option descriptions of the limits, and the choices of ``clear``, from the vocabulary.
LIMIT_HINTS = {limit.key: limit.hint for limit in Limit}
LIMIT_CHOICES = [app_commands.Choice(name=limit.key, value=limit.key) for limit in Limit]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class BudgetCog(commands.GroupCog, group_name="budget", group_description="Per-member limits (Manage Server)"):
    def __init__(self, bot: ExecutusBot) -> None:
        self.budget = bot.services.store.budget
        self.warn_percent = bot.services.settings.budget_warn_percent
        super().__init__()

    async def _apply(
        self,
        interaction: discord.Interaction[Any],
        whose: discord.Member | discord.Role | None,
        changes: list[LimitChange],
    ) -> None:
        if not changes:
            await interaction.response.send_message(NO_LIMIT_GIVEN, ephemeral=True)
            return
        if whose is None:
            key = None
        else:
            key = role_key(str(whose.id)) if isinstance(whose, discord.Role) else str(whose.id)
        try:
            limits = await self.budget.set_limits(str(interaction.guild_id), key, changes)
        except InvalidLimit as exc:
            await interaction.response.send_message(nothing_changed(exc), ephemeral=True)
            return
        text = limits_set(whose.mention if whose else None, limits)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="set", description="Set a member's limits (0 = none allowed)")
    @app_commands.describe(
        member="Whose limits",
        **LIMIT_HINTS,
        period="Period of the limits given here (default: day)",
        clear="Remove one limit (falls back to the server default)",
    )
    @app_commands.choices(clear=LIMIT_CHOICES)
    @admin_only()
    async def set_(
        self,
        interaction: discord.Interaction[Any],
        member: discord.Member,
        runs: Whole | None = None,
        tokens: Whole | None = None,
        runtime: Seconds | None = None,
        concurrent: Whole | None = None,
        usd: Dollars | None = None,
        period: PeriodName | None = None,
        clear: app_commands.Choice[str] | None = None,
    ) -> None:
        changes = changes_from(runs, tokens, runtime, concurrent, usd, period, clear.value if clear else None)
        await self._apply(interaction, member, changes)

    @app_commands.command(name="default", description="Set the server's default limits for every member")
    @app_commands.describe(
        **LIMIT_HINTS,
        period="Period of the limits given here (default: day)",
        clear="Remove one default limit (unlimited)",
    )
    @app_commands.choices(clear=LIMIT_CHOICES)
    @admin_only()
    async def default(
        self,
        interaction: discord.Interaction[Any],
        runs: Whole | None = None,
        tokens: Whole | None = None,
        runtime: Seconds | None = None,
        concurrent: Whole | None = None,
        usd: Dollars | None = None,
        period: PeriodName | None = None,
        clear: app_commands.Choice[str] | None = None,
    ) -> None:
        changes = changes_from(runs, tokens, runtime, concurrent, usd, period, clear.value if clear else None)
        await self._apply(interaction, None, changes)

    @app_commands.command(name="role", description="Set limits for members with a role (the most generous role wins)")
    @app_commands.describe(
        role="Whose limits: members with this role and no limit of their own",
        **LIMIT_HINTS,
        period="Period of the limits given here (default: day)",
        clear="Remove one of the role's limits",
    )
    @app_commands.choices(clear=LIMIT_CHOICES)
    @admin_only()
    async def role(
        self,
        interaction: discord.Interaction[Any],
        role: discord.Role,
        runs: Whole | None = None,
        tokens: Whole | None = None,
        runtime: Seconds | None = None,
        concurrent: Whole | None = None,
        usd: Dollars | None = None,
        period: PeriodName | None = None,
        clear: app_commands.Choice[str] | None = None,
    ) -> None:
        changes = changes_from(runs, tokens, runtime, concurrent, usd, period, clear.value if clear else None)
        await self._apply(interaction, role, changes)

    @app_commands.command(name="show", description="A member's usage and limits, or top spenders and who is near a limit")
    @app_commands.describe(member="Whose usage (default: top spenders)", period="Period for top spenders")
    @admin_only()
    async def show(
        self, interaction: discord.Interaction[Any], member: discord.Member | None = None, period: PeriodName = "day"
    ) -> None:
        guild = str(interaction.guild_id)
        if member is not None:
            text = usage_text(await self.budget.usage(guild, str(member.id), role_ids(member)))
        else:
            default = await self.budget.get_limits(guild, None)
            spenders = await self.budget.top_spenders(guild, Period(period))
            roles = {str(m.id): role_ids(m) for m in interaction.guild.members} if interaction.guild else {}
            near = near_limits_text(await self.budget.near_limits(guild, roles, self.warn_percent), self.warn_percent)
            text = spenders_and_default(spenders, Period(period), default, near)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="reset", description="Remove a member's own limits (back to the server default)")
    @app_commands.describe(member="Whose limits to remove")
    @admin_only()
    async def reset(self, interaction: discord.Interaction[Any], member: discord.Member) -> None:
        removed = await self.budget.reset(str(interaction.guild_id), str(member.id))
        await interaction.response.send_message(limits_reset(member.mention, removed), ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(BudgetCog(bot))
