"""What ``/executus status`` reports, as plain data.

``bot/discord_host/status.py`` gathers it (the shards are discord.py's),
``bot/messages/status.py`` words it. The model providers' state is what
their calls since start showed (through the RunObserver), plus whether each
has the key it needs: no call is made to find out, so asking costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.config import DEFAULT_ANTHROPIC_BASE_URL, DEFAULT_OPENAI_BASE_URL, Settings
from bot.observer import ProviderCalls

Key = Literal["set", "missing", "not needed"]
#: The official APIs, which need a key; any other base URL is a server of the operator's.
_OFFICIAL = {"openai": DEFAULT_OPENAI_BASE_URL, "anthropic": DEFAULT_ANTHROPIC_BASE_URL}


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    #: The MODEL_TIERS that use it.
    tiers: tuple[str, ...]
    key: Key
    calls: ProviderCalls


@dataclass(frozen=True, slots=True)
class Shard:
    id: int
    #: Gateway heartbeat latency in seconds; None before the first heartbeat.
    latency: float | None


@dataclass(frozen=True, slots=True)
class BotStatus:
    version: str
    uptime_seconds: float
    shards: tuple[Shard, ...]
    shard_count: int
    runs_in_flight: int
    runs_queued: int
    #: ``sqlite`` or ``postgresql``.
    database: str
    database_ok: bool
    providers: tuple[ProviderStatus, ...]


def provider_statuses(settings: Settings, calls: dict[str, ProviderCalls]) -> tuple[ProviderStatus, ...]:
    """The providers the tiers use (and any other that was called), in name order."""
    tiers: dict[str, list[str]] = {}
    for tier, spec in settings.model_tiers.items():
        tiers.setdefault(spec.provider, []).append(tier)
    access = settings.provider_access()
    names = sorted(set(tiers) | {name for name in calls if name in access})
    return tuple(
        ProviderStatus(
            name,
            tuple(tiers.get(name, ())),
            _key(name, access[name].api_key, access[name].base_url),
            calls.get(name, ProviderCalls()),
        )
        for name in names
    )


def _key(provider: str, api_key: str, base_url: str) -> Key:
    if api_key:
        return "set"
    official = _OFFICIAL.get(provider, "")
    return "missing" if base_url.rstrip("/") in ("", official.rstrip("/")) else "not needed"
