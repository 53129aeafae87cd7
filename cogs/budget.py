"""/budget: admins tune limits per member and the server default, and see who spent what.

Limited to Manage Server twice: by default member permissions (hidden in the
client) and by a server-side check on every call.
"""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import ExecutusBot
from bot.delivery import NO_PINGS
from bot.permissions import admin_only
from bot.render import limits_text, spenders_text, usage_text
from bot.store import Period
from bot.store.limits import MAX_LIMIT
from bot.text import fit

#: Discord's client keeps values in these bounds; the store checks them again
#: for any caller (``MAX_LIMIT`` is what the database is sure to hold).
Whole = app_commands.Range[int, 0, MAX_LIMIT]
Seconds = app_commands.Range[float, 0, MAX_LIMIT]
PeriodName = Literal["day", "week", "month"]
LimitName = Literal["runs", "tokens", "runtime", "concurrent"]
FIELDS: dict[str, tuple[str, str | None]] = {
    "runs": ("max_runs", "runs_period"),
    "tokens": ("max_tokens", "tokens_period"),
    "runtime": ("max_runtime_seconds", "runtime_period"),
    "concurrent": ("max_concurrent", None),
}


def changes_from(
    runs: int | None,
    tokens: int | None,
    runtime: float | None,
    concurrent: int | None,
    period: str | None,
    clear: str | None,
) -> dict[str, object]:
    """The store fields an admin's options change. ``period`` applies to the
    limits given with it; ``clear`` removes one limit (back to unlimited or
    the server default)."""
    given = {"runs": runs, "tokens": tokens, "runtime": runtime, "concurrent": concurrent}
    changes: dict[str, object] = {}
    for name, value in given.items():
        if value is None:
            continue
        field, period_field = FIELDS[name]
        changes[field] = value
        if period and period_field:
            changes[period_field] = period
    if clear:
        field, period_field = FIELDS[clear]
        changes[field] = None
        if period_field:
            changes[period_field] = None
    return changes


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class BudgetCog(commands.GroupCog, group_name="budget", group_description="Per-member limits (Manage Server)"):
    def __init__(self, bot: ExecutusBot) -> None:
        self.bot = bot
        self.budget = bot.core.store.budget
        super().__init__()

    async def _apply(
        self, interaction: discord.Interaction[Any], member: discord.Member | None, changes: dict[str, object]
    ) -> None:
        who = member.mention if member else "the server default"
        if not changes:
            await interaction.response.send_message(
                "Give at least one limit (runs, tokens, runtime, concurrent) or `clear`.", ephemeral=True
            )
            return
        try:
            limits = await self.budget.set_limits(str(interaction.guild_id), str(member.id) if member else None, **changes)
        except ValueError as exc:
            await interaction.response.send_message(f"⚠️ Nothing changed: {exc}.", ephemeral=True)
            return
        await interaction.response.send_message(
            f"Limits for {who} (unset ones follow the server default):\n{limits_text(limits)}",
            ephemeral=True,
            allowed_mentions=NO_PINGS,
        )

    @app_commands.command(name="set", description="Set a member's limits (0 = none allowed)")
    @app_commands.describe(
        member="Whose limits",
        runs="Runs per period",
        tokens="Tokens (in + out) per period",
        runtime="Seconds of run time per period",
        concurrent="Runs at the same time",
        period="Period of the limits given here (default: day)",
        clear="Remove one limit (falls back to the server default)",
    )
    @admin_only()
    async def set_(
        self,
        interaction: discord.Interaction[Any],
        member: discord.Member,
        runs: Whole | None = None,
        tokens: Whole | None = None,
        runtime: Seconds | None = None,
        concurrent: Whole | None = None,
        period: PeriodName | None = None,
        clear: LimitName | None = None,
    ) -> None:
        await self._apply(interaction, member, changes_from(runs, tokens, runtime, concurrent, period, clear))

    @app_commands.command(name="default", description="Set the server's default limits for every member")
    @app_commands.describe(
        runs="Runs per period",
        tokens="Tokens (in + out) per period",
        runtime="Seconds of run time per period",
        concurrent="Runs at the same time",
        period="Period of the limits given here (default: day)",
        clear="Remove one default limit (unlimited)",
    )
    @admin_only()
    async def default(
        self,
        interaction: discord.Interaction[Any],
        runs: Whole | None = None,
        tokens: Whole | None = None,
        runtime: Seconds | None = None,
        concurrent: Whole | None = None,
        period: PeriodName | None = None,
        clear: LimitName | None = None,
    ) -> None:
        await self._apply(interaction, None, changes_from(runs, tokens, runtime, concurrent, period, clear))

    @app_commands.command(name="show", description="A member's usage and limits, or the top spenders")
    @app_commands.describe(member="Whose usage (default: top spenders)", period="Period for top spenders")
    @admin_only()
    async def show(
        self, interaction: discord.Interaction[Any], member: discord.Member | None = None, period: PeriodName = "day"
    ) -> None:
        guild = str(interaction.guild_id)
        if member is not None:
            text = usage_text(await self.budget.usage(guild, str(member.id)))
        else:
            default = await self.budget.get_limits(guild, None)
            spenders = await self.budget.top_spenders(guild, Period(period))
            text = f"{spenders_text(spenders, Period(period))}\n**Server default limits**\n{limits_text(default)}"
        await interaction.response.send_message(fit(text), ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="reset", description="Remove a member's own limits (back to the server default)")
    @app_commands.describe(member="Whose limits to remove")
    @admin_only()
    async def reset(self, interaction: discord.Interaction[Any], member: discord.Member) -> None:
        removed = await self.budget.reset(str(interaction.guild_id), str(member.id))
        text = f"{member.mention} now follows the server default." if removed else f"{member.mention} had no limits of their own."
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(BudgetCog(bot))
