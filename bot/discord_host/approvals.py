"""Approval requests in Discord: Approve and Deny buttons in the run's thread.

The buttons survive view objects being dropped: the request's id lives in
the custom_id and the click is routed to the services' ``Approvals``, which
checks on the bot's side that the member may decide. Whoever may not gets an
ephemeral refusal and the request keeps waiting.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.approvals import Pending, Verdict
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.permissions import interaction_is_admin, member_roles
from bot.messages.approvals import (
    APPROVAL_GONE,
    APPROVE_LABEL,
    DENY_LABEL,
    approval_asked,
    approval_not_allowed,
    approval_recorded,
    approval_settled,
)
from executor import ApprovalDecision


#: How far back in the thread an earlier request for the same call is looked for.
RECENT = 50


class ApprovalButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"executus:approval:(?P<id>[0-9a-f]+):(?P<verdict>yes|no)"
):
    def __init__(self, approval_id: str, approve: bool) -> None:
        super().__init__(
            discord.ui.Button(
                label=APPROVE_LABEL if approve else DENY_LABEL,
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                custom_id=f"executus:approval:{approval_id}:{'yes' if approve else 'no'}",
            )
        )
        self.approval_id = approval_id
        self.approve = approve

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ApprovalButton:
        return cls(match["id"], match["verdict"] == "yes")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        approvals = interaction.client.services.approvals
        request = approvals.request(self.approval_id)
        verdict = approvals.resolve(
            self.approval_id,
            self.approve,
            str(interaction.user.id),
            member_roles(interaction.user),
            interaction_is_admin(interaction),
        )
        if verdict is Verdict.RECORDED:
            text = approval_recorded(self.approve)
        elif verdict is Verdict.NOT_ALLOWED and request is not None:
            text = approval_not_allowed(request.by)
        else:
            text = APPROVAL_GONE
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


def approval_view(approval_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ApprovalButton(approval_id, True))
    view.add_item(ApprovalButton(approval_id, False))
    return view


class ThreadPrompt:
    """The Prompt of ``bot/approvals.py``: asks in the thread the run answers in."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def ask(self, pending: Pending) -> None:
        """Post the request, or re-attach to the one already in the thread (a
        run resumed after a restart asks again for the same call)."""
        channel = self._client.get_partial_messageable(int(pending.request.channel_id))
        content, view = approval_asked(pending.request), approval_view(pending.id)
        shown = await self._shown(channel, pending.id)
        if shown is not None:
            await shown.edit(content=content, view=view, allowed_mentions=NO_PINGS)
            pending.shown_at = shown.id
            return
        message = await channel.send(content, view=view, allowed_mentions=NO_PINGS)
        pending.shown_at = message.id

    async def _shown(self, channel: discord.PartialMessageable, approval_id: str) -> discord.Message | None:
        """Our earlier message for this request among the thread's latest."""
        me = self._client.user
        wanted = ApprovalButton(approval_id, True).custom_id
        async for message in channel.history(limit=RECENT):
            if me is not None and message.author.id == me.id and wanted in _custom_ids(message.components):
                return message
        return None

    async def settled(self, pending: Pending, decision: ApprovalDecision) -> None:
        if pending.shown_at is None:
            return
        message = self._client.get_partial_messageable(int(pending.request.channel_id)).get_partial_message(
            pending.shown_at
        )
        await message.edit(content=approval_settled(pending.request, decision), view=None, allowed_mentions=NO_PINGS)


def _custom_ids(components: list[Any]) -> list[str]:
    """Every custom_id of a message's components, inside action rows too."""
    found = []
    for component in components:
        found += _custom_ids(list(getattr(component, "children", [])))
        if custom_id := getattr(component, "custom_id", None):
            found.append(custom_id)
    return found
