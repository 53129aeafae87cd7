"""The real bot, in-process, against the Discord emulator and a fake model server.

Everything but Discord and the model provider is the production wiring
(``bot.discord_host.app.observed_bot``: the services, ``ExecutusBot`` and
their metrics observer; a real SQLite file): the bot finds
its gateway through ``GET <DISCORD_API_BASE>/gateway`` like in production.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.discord_host.api import point_discord_at
from bot.discord_host.app import observed_bot
from bot.discord_host.client import ExecutusBot
from bot.http import http_client
from bot.metrics import Metrics
from bot.services import Services, store_of
from bot.store import Store
from executor import NO_TRACING, Tracer
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import Channel, Message
from tests.fakes.model_servers import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Harness:
    emu: DiscordEmulator
    model: FakeOpenAIServer
    bot: ExecutusBot
    services: Services
    store: Store

    async def thread_of(self, interaction_count: int = 1) -> Channel:
        return await self.emu.wait_for(lambda: len(self.emu.threads) >= interaction_count and self.emu.threads[-1])

    async def bot_messages(self, channel: Channel, count: int, timeout: float = 10.0) -> list[Message]:
        """Wait until the bot has posted ``count`` messages in ``channel``."""

        def mine() -> list[Message] | None:
            found = [m for m in self.emu.messages_in(channel) if m.author.id == self.emu.bot_user.id]
            return found if len(found) >= count else None

        return await self.emu.wait_for(mine, timeout=timeout)

    async def idle(self, runs: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``runs`` runs have been fully reported (progress message
        included) and none is in flight."""
        runner = self.bot.runner
        await self.emu.wait_for(lambda: (runner.completed >= runs and runner.in_flight == 0) or None, timeout=timeout)


@contextlib.asynccontextmanager
async def running_bot(tmp_path: Path, **settings: Any) -> AsyncIterator[Harness]:
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        with emu.patch_discord():
            async with bot_on(tmp_path, emu, model, **settings) as harness:
                yield harness


@contextlib.asynccontextmanager
async def bot_on(
    tmp_path: Path,
    emu: DiscordEmulator,
    model: FakeOpenAIServer,
    metrics: Metrics | None = None,
    tracer: Tracer = NO_TRACING,
    **settings: Any,
) -> AsyncIterator[Harness]:
    """The bot on an emulator and model server the caller keeps (so a test can
    stop the bot and start it again on the same world and database).
    ``settings`` override the defaults below.
    ``metrics`` and ``tracer``: what the bot counts and traces, wired as
    ``python -m bot`` wires them (the store's write latency, the RunObserver)."""
    defaults: dict[str, Any] = {
        "discord_token": emu.token,
        "discord_api_base": emu.api_base,
        "discord_guild_ids": str(emu.guild.id),
        "database_url": f"sqlite:///{tmp_path / 'bot.db'}",
        "agents_dir": ROOT / "agents",
        "skills_dir": ROOT / "skills",
        "mcp_dir": tmp_path / "no-mcp",
        "openai_api_key": "sk-test-secret-key",
        "openai_base_url": model.base_url,
        "model_tiers": "fast=openai/fake-fast,smart=openai/fake-smart",
        "model_max_retries": 0,
    }
    config = load_settings(**(defaults | settings))
    metrics = metrics or Metrics()
    store = store_of(config, on_commit=metrics.store_write)
    async with http_client() as http, store:
        await point_discord_at(config.discord_api_base, http)
        bot = observed_bot(config, http, store, metrics, tracer)
        services = bot.services
        task = asyncio.create_task(bot.start(emu.token))
        try:
            await emu.wait_until_ready()
            await emu.wait_for(lambda: emu.guild_commands.get(emu.guild.id) or emu.global_commands, timeout=30)
            # Every shard: discord.py waits 5 s between a process's identifies, as Discord asks.
            await emu.wait_for(lambda: bot.is_ready() or None, timeout=30)
            yield Harness(emu, model, bot, services, store)
        finally:
            await services.runs.shutdown(timeout=5)
            await bot.close()
            await asyncio.gather(task, return_exceptions=True)
            await services.mcp.close()


async def thread_of_a_past_run(tmp_path: Path, emu: DiscordEmulator, model: FakeOpenAIServer, prompt: str) -> Channel:
    """Start the bot, /ask ``prompt`` (the model's next scripted reply answers
    it), and stop the bot again: the agent thread, for a test of what the next
    start does with it."""
    async with bot_on(tmp_path, emu, model) as first:
        await emu.send_slash_command("ask", {"prompt": prompt}, user=emu.member)
        thread = await first.thread_of()
        await first.idle()
    return thread
