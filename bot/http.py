"""The one HTTP client for model providers (and the gateway lookup).

httpx is the API the providers are written against; the transport under it
is aiohttp (through httpx-aiohttp, by an httpx maintainer). Under load,
httpcore's pool re-checks every idle connection on every request and
response, which cost most of the bot's CPU with hundreds of runs in flight;
aiohttp's connector does not, and discord.py already loads aiohttp, so it
adds no weight. Finite timeouts; no redirects (httpx's safe default).
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200)
TIMEOUT = httpx.Timeout(120.0, connect=10.0)


class Transport(AiohttpTransport):
    """httpx-aiohttp, with one mapping corrected: it reports every aiohttp
    connection failure as ``httpx.ConnectTimeout``, so "connection refused"
    would read as "did not answer in time". A failure that is not a timeout
    is ``httpx.ConnectError``, as httpcore reports it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, TimeoutError):
                raise httpx.ConnectError(str(exc), request=request) from cause
            raise


def http_client() -> httpx.AsyncClient:
    """A new client; the composition root owns it (``async with``)."""
    return httpx.AsyncClient(transport=Transport(limits=LIMITS), timeout=TIMEOUT, limits=LIMITS)
