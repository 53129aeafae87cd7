"""The gateway's health check: the Discord half of ``/healthz`` (``bot/health.py``)."""

from __future__ import annotations

import discord

from bot.health import HealthCheck


def gateway_check(client: discord.Client) -> HealthCheck:
    """Passes while ``client`` is logged in and its gateway websocket is open
    (every shard's, for an AutoShardedClient). It fails before the first
    READY and while discord.py reconnects."""

    async def connected() -> bool:
        if client.is_closed() or not client.is_ready():
            return False
        if isinstance(client, discord.AutoShardedClient):
            return all(not shard.is_closed() for shard in client.shards.values())
        return client.ws is not None and client.ws.open

    return connected
