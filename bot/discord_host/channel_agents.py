"""Agents bound to channels, on Discord's side: the channel option of
/agent bind and unbind, the checks before a binding is stored, and the ids
a message's or /ask's channel is looked up under (a thread's or forum
post's own, then the channel it is in).

The store keeps the bindings (``bot/store/channel_agents.py``); the wording
is ``bot/messages/channel_agents.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord
from discord import app_commands

from bot.agents import AgentDefinition
from bot.messages.channel_agents import bound, cannot_use, not_bound, unbound
from bot.messages.conversation import unknown_agent
from bot.store import ChannelAgents

#: What the bot needs in a bound channel: to see it, and to answer in its
#: threads (the ones it opens, and forum posts).
NEEDED = {"View Channel": "view_channel", "Send Messages in Threads": "send_messages_in_threads"}


class BindableChannel(app_commands.Transformer):
    """A text, announcement or forum channel, as Discord sends it (resolved
    or not: whether the bot can see it is checked when binding). Not
    ``TextChannel | ForumChannel``: discord.py adds media channels to that,
    a type Discord's published schema for command options does not have."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.forum]

    async def transform(self, interaction: discord.Interaction[Any], value: Any, /) -> app_commands.AppCommandChannel:
        if not isinstance(value, app_commands.AppCommandChannel):
            raise app_commands.TransformerError(value, self.type, self)
        return value


#: The channel option of /agent bind and unbind.
Picked = app_commands.Transform[app_commands.AppCommandChannel, BindableChannel]


def channel_ids(channel: discord.abc.GuildChannel | discord.Thread) -> tuple[str, ...]:
    """Where a binding for ``channel`` may be: a thread's own id, then its channel's."""
    if isinstance(channel, discord.Thread):
        return (str(channel.id), str(channel.parent_id))
    return (str(channel.id),)


async def bound_agent(bindings: ChannelAgents, channel: discord.abc.GuildChannel | discord.Thread) -> str | None:
    """The agent bound to ``channel`` or to the channel it is in, if any."""
    return await bindings.agent_for(*channel_ids(channel))


def missing_permissions(guild: discord.Guild, channel_id: int) -> list[str]:
    """What the bot lacks in the channel; all of NEEDED when the channel is
    not even in its cache (it cannot see it)."""
    channel = guild.get_channel(channel_id)
    if channel is None:
        return list(NEEDED)
    perms = channel.permissions_for(guild.me)
    return [name for name, flag in NEEDED.items() if not getattr(perms, flag)]


async def bind(
    bindings: ChannelAgents,
    agents: Mapping[str, AgentDefinition],
    guild: discord.Guild,
    channel: app_commands.AppCommandChannel,
    agent_id: str,
    by: int,
) -> str:
    """Bind ``agent_id`` to ``channel`` if it is an agent and the bot can
    work there; the text for the admin either way. Nothing is stored on refusal."""
    agent = agents.get(agent_id)
    if agent is None:
        return unknown_agent(agent_id, sorted(agents))
    missing = missing_permissions(guild, channel.id)
    if missing:
        return cannot_use(channel.mention, missing)
    replaced = await bindings.bind(str(guild.id), str(channel.id), agent.id, str(by))
    return bound(channel.mention, agent.name, agent.id, replaced)


async def unbind(bindings: ChannelAgents, guild: discord.Guild, channel: app_commands.AppCommandChannel) -> str:
    was = await bindings.unbind(str(guild.id), str(channel.id))
    return unbound(channel.mention, was) if was is not None else not_bound(channel.mention)
