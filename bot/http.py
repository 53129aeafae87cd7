"""The one HTTP client for model providers (and the gateway lookup).

httpx is the API the providers are written against; the transport under it
is aiohttp (through httpx-aiohttp, by an httpx maintainer). Under load,
httpcore's pool re-checks every idle connection on every request and
response, which cost most of the bot's CPU with hundreds of runs in flight;
aiohttp's connector does not, and discord.py already loads aiohttp, so it
adds no weight. Finite timeouts; no redirects (httpx's safe default).

A model call is the bot's hot path, and httpx's client layer (URL merging,
cookies, auth and redirect hooks, the request and response streams) cost
more CPU per call than the rest of the agent loop. So the client also
offers :meth:`Client.post_bytes` (``executor.llm.http.DirectPost``): one
POST of a body already encoded, straight to the aiohttp session under the
transport, answered with the body of a success, any other answer as a whole
``httpx.Response``, and httpx's exceptions.
Everything else, streamed model calls included, goes through httpx.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import AIOHTTP_EXC_MAP

LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=200)
TIMEOUT = httpx.Timeout(120.0, connect=10.0)


def _httpx_error(exc: Exception, request: httpx.Request | None = None) -> httpx.HTTPError | None:
    """The httpx exception for an aiohttp failure (None for anything else),
    as httpx-aiohttp maps it, with one mapping corrected: it reports every
    aiohttp connection failure as ``httpx.ConnectTimeout``, so "connection
    refused" would read as "did not answer in time". A failure that is not a
    timeout is ``httpx.ConnectError``, as httpcore reports it."""
    mapped: type[httpx.HTTPError] | None = None
    for source, target in AIOHTTP_EXC_MAP.items():
        if isinstance(exc, source) and (mapped is None or issubclass(target, mapped)):
            mapped = target
    if mapped is None:
        return None
    if mapped is httpx.ConnectTimeout and not isinstance(exc, TimeoutError):
        mapped = httpx.ConnectError
    return mapped(str(exc), request=request) if issubclass(mapped, httpx.RequestError) else mapped(str(exc))


class Transport(AiohttpTransport):
    """httpx-aiohttp with the corrected error mapping, and the direct POST."""

    def __init__(self, *, limits: httpx.Limits = LIMITS) -> None:
        super().__init__(limits=limits)
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:  # httpx-aiohttp's mapping: map its cause again, corrected
            cause = exc.__cause__
            if isinstance(cause, Exception) and (mapped := _httpx_error(cause, request)) is not None:
                raise mapped from cause
            raise

    async def post_bytes(
        self, url: str, content: bytes, headers: Mapping[str, str], timeout: float
    ) -> bytes | httpx.Response:
        """POSTs ``content`` and reads the whole answer; ``timeout`` bounds
        connecting and each read, as httpx's ``timeout=`` does."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        limits = self._timeouts.get(timeout)
        if limits is None:
            limits = self._timeouts[timeout] = aiohttp.ClientTimeout(
                sock_connect=timeout, sock_read=timeout, connect=timeout
            )
        try:
            async with self.client.post(
                url, data=content, headers=headers, allow_redirects=False, timeout=limits
            ) as response:
                body = await response.read()
        except Exception as exc:
            mapped = _httpx_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        if 200 <= response.status < 300:  # all a provider reads of a success (see DirectPost)
            return body
        # The request only matters to an error: its host is redacted from the message.
        request = httpx.Request("POST", url)
        return httpx.Response(response.status, headers=response.raw_headers, content=body, request=request)


class Client(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` on :class:`Transport` that can also POST a
    body straight through it (:meth:`post_bytes`)."""

    def __init__(self) -> None:
        self._direct = Transport(limits=LIMITS)
        super().__init__(transport=self._direct, timeout=TIMEOUT, limits=LIMITS)
        self._user_agent = self.headers["User-Agent"]

    async def post_bytes(
        self, url: str, content: bytes, headers: Mapping[str, str], timeout: float
    ) -> bytes | httpx.Response:
        """One POST of an encoded body, past httpx's client layer: no cookies,
        auth hooks or redirects (the providers use none), the same User-Agent.
        Compression is aiohttp's to negotiate and undo."""
        return await self._direct.post_bytes(url, content, {"User-Agent": self._user_agent, **headers}, timeout)


def http_client() -> Client:
    """A new client; the composition root owns it (``async with``)."""
    return Client()
