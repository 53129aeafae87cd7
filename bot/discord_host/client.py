"""ExecutusBot: the discord.py client, given its services by the composition root.

It builds the Discord side around them (the thread runner and the owner of
thread conversations), loads the cogs and syncs their commands, and turns a
failed command into a member's message in one place (``ExecutusTree.on_error``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.approvals import ApprovalButton, ThreadPrompt
from bot.discord_host.conversations import ThreadConversations
from bot.discord_host.direct import DirectConversations
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.progress import CancelButton
from bot.discord_host.thread_runner import ThreadRunner
from bot.messages.conversation import COMMAND_FAILED, NOT_ALLOWED_HERE
from bot.observer import RunObserver
from bot.services import Services

log = logging.getLogger(__name__)

COGS = (
    "cogs.ask",
    "cogs.runs",
    "cogs.budget",
    "cogs.memory",
    "cogs.status",
    "cogs.mcp",
    "cogs.channel_agents",
)


def intents() -> discord.Intents:
    """Guilds, guild messages and DMs, plus message content: follow-ups in
    agent threads and mentions are read as prompts (a privileged intent to
    enable in the Developer Portal; DMs carry their content without it)."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True
    return wanted


class ExecutusTree(app_commands.CommandTree["ExecutusBot"]):
    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        """The one place a command failure becomes a member's message."""
        if isinstance(error, app_commands.CheckFailure):
            text = str(error) or NOT_ALLOWED_HERE
        else:
            log.error("command %s failed", interaction.command and interaction.command.qualified_name, exc_info=error)
            text = COMMAND_FAILED
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not tell the member about a failed command")


class ExecutusBot(commands.AutoShardedBot):
    """Slash commands only: no text prefix, nobody pinged by default.

    Sharded the way discord.py does it (``AutoShardedClient``): the shards
    of SHARD_IDS out of SHARD_COUNT, or, without those settings, as many as
    ``GET /gateway/bot`` recommends, all in this process. Discord sends each
    shard its own guilds' events, so a guild's commands, messages and
    button clicks all reach the one process that runs its shard.
    """

    def __init__(self, services: Services, observer: RunObserver, **options: Any) -> None:
        """``observer`` is the executor's tracer in ``services`` (it knows how
        the model providers' calls went, for /executus status)."""
        shards = services.settings.shards()
        if shards.ids is not None:
            options["shard_ids"] = list(shards.ids)
        # The bot uses no voice: discord.py's start-up warnings that the voice
        # libraries (PyNaCl, davey) are missing would only alarm operators.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned_or(),
            intents=intents(),
            allowed_mentions=NO_PINGS,
            help_command=None,
            tree_cls=ExecutusTree,
            shard_count=shards.count,
            **options,
        )
        self.services = services
        self.observer = observer
        #: When the bot was built (monotonic): its uptime.
        self.started = time.monotonic()
        self.runner = ThreadRunner(services.runs, services.store.audit)
        self.conversations = ThreadConversations(self, services, self.runner)
        self.direct = DirectConversations(self, services, self.runner, self.conversations.pick_agent)
        services.approvals.attach(ThreadPrompt(self))

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CancelButton, ApprovalButton)
        for name in COGS:
            await self.load_extension(name)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Global sync takes up to an hour to show up; DISCORD_GUILD_IDS
        syncs to those servers at once (for development).

        Split across processes by SHARD_IDS, each syncs only what its shards
        own: the global commands from the process of shard 0, a server's
        from the process of its shard. N processes starting together then
        make one bulk overwrite each, not N of every one (which share one
        token's rate limits)."""
        shards = self.services.settings.shards()
        guild_ids = self.services.settings.discord_guild_ids
        if not guild_ids:
            if not shards.owns(None):
                log.info("global commands are synced by the process of shard 0")
                return
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            return
        for gid in filter(shards.owns, guild_ids):
            guild = discord.Object(id=gid)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), gid)

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (%s) to %d server(s) on shard(s) %s of %s",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
            ", ".join(map(str, sorted(self.shards))),
            self.shard_count,
        )

    async def on_message(self, message: discord.Message) -> None:
        """Prompts come from cogs' listeners; there are no text commands."""
