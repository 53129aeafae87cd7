"""Pointing discord.py at DISCORD_API_BASE (a REST proxy, or the test emulator).

discord.py keeps its REST base and default gateway as class attributes:
``Route.BASE`` also serves interaction callbacks and webhooks, and the client
connects to ``DiscordWebSocket.DEFAULT_GATEWAY`` without asking the API. So
the bot sets the REST base and takes the gateway URL from
``GET <DISCORD_API_BASE>/gateway``, as Discord documents.
"""

from __future__ import annotations

import logging

import discord
import httpx
import yarl

log = logging.getLogger(__name__)


class DiscordAPIError(RuntimeError):
    """DISCORD_API_BASE is unreachable or did not answer like Discord."""


async def point_discord_at(api_base: str, http: httpx.AsyncClient) -> str:
    """Set discord.py's REST base and gateway; returns the gateway URL."""
    base = api_base.rstrip("/")
    discord.http.Route.BASE = base
    try:
        response = await http.get(f"{base}/gateway", timeout=10.0)
        response.raise_for_status()
        url = response.json()["url"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise DiscordAPIError(
            f"could not get the gateway URL from {base}/gateway ({type(exc).__name__}); check DISCORD_API_BASE"
        ) from None
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    return str(url)
