"""Gathers ``/executus status`` (``bot/status.py``) from the running bot."""

from __future__ import annotations

import importlib.metadata
import math
import time

import discord

from bot.discord_host.client import ExecutusBot
from bot.health import database_check, failing
from bot.status import BotStatus, Shard, provider_statuses


async def bot_status(bot: ExecutusBot) -> BotStatus:
    services = bot.services
    store = services.store
    failed = await failing({"database": database_check(store)})
    return BotStatus(
        version=version(),
        uptime_seconds=time.monotonic() - bot.started,
        shards=shards(bot),
        shard_count=bot.shard_count or 1,
        runs_in_flight=services.runs.in_flight,
        runs_queued=bot.runner.queued,
        database=store.backend,
        database_ok=not failed,
        providers=provider_statuses(services.settings, bot.observer.providers),
    )


def version() -> str:
    try:
        return importlib.metadata.version("executus")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree without installing
        return "unknown"


def shards(bot: discord.Client) -> tuple[Shard, ...]:
    """The shards this process runs, with their heartbeat latency."""
    if isinstance(bot, discord.AutoShardedClient):
        return tuple(Shard(i, _latency(s.latency)) for i, s in sorted(bot.shards.items()))
    if bot.ws is None:
        return ()
    return (Shard(bot.shard_id or 0, _latency(bot.latency)),)


def _latency(seconds: float) -> float | None:
    return None if math.isnan(seconds) or math.isinf(seconds) else seconds
