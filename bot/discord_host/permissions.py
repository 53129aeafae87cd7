"""Who counts as an admin, and what roles a member holds, in one place.

Admin means Manage Server, checked on the server side for every admin action
(the commands' default permissions only hide them in the client).
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.messages.conversation import ADMINS_ONLY


def interaction_is_admin(interaction: discord.Interaction[Any]) -> bool:
    return interaction.permissions.manage_guild


def member_is_admin(member: discord.abc.User, channel: Any) -> bool:
    if not isinstance(member, discord.Member):
        return False
    permissions_for = getattr(channel, "permissions_for", None)
    perms = permissions_for(member) if permissions_for else member.guild_permissions
    return bool(perms.manage_guild)


def member_roles(member: discord.abc.User) -> list[str]:
    """Role ids and names, as agent access rules may name either."""
    if not isinstance(member, discord.Member):
        return []
    return role_ids(member) + [r.name for r in member.roles]


def role_ids(member: discord.abc.User) -> list[str]:
    """Role ids only, as budgets per role are kept (a name can be reused)."""
    return [str(r.id) for r in member.roles] if isinstance(member, discord.Member) else []


def admin_only() -> Any:
    """An app-command check that refuses members without Manage Server, with a
    message that says so (the tree's error handler shows it)."""

    def predicate(interaction: discord.Interaction[Any]) -> bool:
        if not interaction_is_admin(interaction):
            raise app_commands.CheckFailure(ADMINS_ONLY)
        return True

    return app_commands.check(predicate)
