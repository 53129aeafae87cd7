"""Health checks: is the gateway connected, is the database reachable.

A check is an async callable that returns True when healthy; returning
False, raising or taking longer than the timeout all count as a failure.
``/healthz`` (``bot/metrics_server.py``) runs them together and names the
ones that failed, never their errors: a database error can carry its URL,
and a URL can carry a password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import discord

from bot.store import Store

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]

#: Seconds one check may take; an orchestrator's probe waits a few more.
CHECK_TIMEOUT = 3.0


async def failing(checks: Mapping[str, HealthCheck], timeout: float = CHECK_TIMEOUT) -> list[str]:
    """The names of the checks that did not pass, in the order given."""
    names = list(checks)
    outcomes = await asyncio.gather(*(_passes(name, checks[name], timeout) for name in names))
    return [name for name, ok in zip(names, outcomes, strict=True) if not ok]


async def _passes(name: str, check: HealthCheck, timeout: float) -> bool:
    try:
        return await asyncio.wait_for(check(), timeout) is True
    except Exception as exc:  # a broken check is a failed check, not a broken /healthz
        log.warning("health check %s failed: %s", name, type(exc).__name__)
        return False


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


def database_check(store: Store) -> HealthCheck:
    """Passes while a read through the store's reader connection succeeds."""

    async def reachable() -> bool:
        await store.runs.recent(guild_id="", limit=1)
        return True

    return reachable
