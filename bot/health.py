"""Health checks: is the database reachable (and, from ``bot/discord_host/health.py``,
is the gateway connected).

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


def database_check(store: Store) -> HealthCheck:
    """Passes while a read through the store's reader connection succeeds."""

    async def reachable() -> bool:
        await store.runs.recent(guild_id="", limit=1)
        return True

    return reachable
