"""/memory show and /memory forget: a member sees and removes what agents
remember about them, only theirs and only in this scope (this server, or
their DMs). Answers are ephemeral and ping nobody, whatever a memory holds."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_host.client import ExecutusBot
from bot.discord_host.delivery import NO_PINGS
from bot.discord_host.direct import scope_of
from bot.messages.memory import FORGET_WHAT, forgotten, memory_list, memory_place


@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class MemoryCog(commands.GroupCog, group_name="memory", group_description="What agents remember about you"):
    def __init__(self, bot: ExecutusBot) -> None:
        self.memory = bot.services.store.memory
        super().__init__()

    @app_commands.command(name="show", description="What agents remember about you here (only you see this)")
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        memories = await self.memory.recent(scope_of(interaction), str(interaction.user.id))
        first, *rest = memory_list(memories, memory_place(interaction.guild_id is None))
        await interaction.response.send_message(first, ephemeral=True, allowed_mentions=NO_PINGS)
        for part in rest:
            await interaction.followup.send(part, ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="forget", description="Remove one memory, or all of yours here")
    @app_commands.describe(memory="The memory's number, from /memory show", everything="Forget all your memories here")
    async def forget(
        self,
        interaction: discord.Interaction[Any],
        memory: app_commands.Range[int, 1] | None = None,
        everything: bool = False,
    ) -> None:
        text = FORGET_WHAT
        if memory is not None or everything:
            text = forgotten(await self.memory.forget(scope_of(interaction), str(interaction.user.id), memory), memory)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(MemoryCog(bot))
