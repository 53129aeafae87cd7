"""What members read in DMs with the bot, and from /ask where the bot cannot answer."""

from __future__ import annotations

from collections.abc import Iterable

from bot.splitting import fit

DMS_OFF = "I do not answer DMs: the bot's operator turned them off. Use /ask in a server we share."
NO_SHARED_SERVER = (
    "I only answer DMs from members of a server I am in. Join one of them (or ask its admins to add me"
    " to yours), then write to me again."
)
NOT_IN_THIS_SERVER = (
    "I am not a member of this server, so I cannot answer here. Ask me in a DM (open my profile and send"
    " a message, or use /ask there), or ask a server admin to add me."
)
EMPTY_DM = "Write what you want the agent to do, or attach an image."


def not_open_in_dms(agent_id: str, open_agents: Iterable[str]) -> str:
    names = ", ".join(f"`{a}`" for a in open_agents) or "none"
    return fit(f"`{agent_id}` is not open to everyone, so it cannot be used in DMs. Agents you can use here: {names}.")


def answering_below(agent_name: str) -> str:
    return fit(f"💬 **{agent_name}** is answering in this DM.")
