"""/mcp list and /mcp review as admins see them, and the Approve button
under each tool of the review.

The view carries the fingerprint of the change the admin was shown; the
manager re-pins only that change (one that changed again since is
refused). Manage Server is checked again on the click, on the bot's side.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.permissions import interaction_is_admin
from bot.mcp import McpManager, Pin
from bot.messages.conversation import ADMINS_ONLY
from bot.messages.mcp import (
    APPROVE_CHANGE,
    NOTHING_TO_REVIEW,
    REVIEW_SHOWN,
    review_done,
    review_header,
    review_of,
    servers_list,
)

#: Seconds the review's button works; /mcp review shows it again after.
REVIEW_TIMEOUT = 900.0


class ReviewView(discord.ui.View):
    def __init__(self, manager: McpManager, pin: Pin) -> None:
        super().__init__(timeout=REVIEW_TIMEOUT)
        assert pin.changed is not None
        self._manager = manager
        self._pin = pin
        self._fingerprint = pin.changed.fingerprint()
        button: discord.ui.Button[ReviewView] = discord.ui.Button(
            label=APPROVE_CHANGE,
            style=discord.ButtonStyle.success,
            custom_id=f"executus:mcp-review:{pin.server}:{self._fingerprint[:32]}",
        )
        button.callback = self._approve  # type: ignore[method-assign]
        self.add_item(button)

    async def _approve(self, interaction: discord.Interaction[Any]) -> None:
        if not interaction_is_admin(interaction):
            await interaction.response.send_message(ADMINS_ONLY, ephemeral=True)
            return
        pin = self._pin
        approved = await self._manager.approve(pin.server, pin.tool, self._fingerprint, by=str(interaction.user.id))
        self.stop()
        await interaction.response.edit_message(content=review_done(pin, approved), view=None, allowed_mentions=NO_PINGS)


async def show_servers(interaction: discord.Interaction[Any], manager: McpManager) -> None:
    text = servers_list(await manager.states())
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def show_review(interaction: discord.Interaction[Any], manager: McpManager) -> None:
    """Each held tool's change in a message of its own, with its Approve button."""
    held = await manager.held()
    if not held:
        await interaction.response.send_message(NOTHING_TO_REVIEW, ephemeral=True)
        return
    await interaction.response.send_message(review_header(len(held)), ephemeral=True)
    for pin in held[:REVIEW_SHOWN]:
        view = ReviewView(manager, pin)
        await interaction.followup.send(review_of(pin), view=view, ephemeral=True, allowed_mentions=NO_PINGS)
