"""DMs: a member's messages to the bot, handed to the owner of DM
conversations (``bot/discord_host/direct.py``); /ask in a DM goes there too
(see cogs/ask.py)."""

from __future__ import annotations

import discord
from discord.ext import commands

from bot.discord_host.client import ExecutusBot


class DirectCog(commands.Cog):
    def __init__(self, bot: ExecutusBot) -> None:
        self.direct = bot.direct

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if isinstance(message.channel, discord.DMChannel):
            await self.direct.take(message)


async def setup(bot: ExecutusBot) -> None:
    await bot.add_cog(DirectCog(bot))
