"""An HTTP GET that obeys a NetPolicy on every hop and bounds size and time.

The request goes to the IP literal that was checked, with the original name in
the Host header and as the TLS server name, so what was checked is what is
connected to. Redirects are followed here, one checked hop at a time.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from executor.tools.builtin.netsafe import FetchError, NetPolicy, host_name

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class TooLarge(FetchError):
    """The response is bigger than the caller's cap."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A complete response body and what is needed to interpret it."""

    url: str
    status: int
    reason: str
    media_type: str
    charset: str | None
    data: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        try:
            return self.data.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.data.decode("utf-8", errors="replace")


class SafeFetcher:
    """GETs URLs under a NetPolicy.

    ``http`` is an optional client to reuse; give it one of its own (no
    default auth headers): requests go to IP literals, so its pool and cookie
    jar are keyed by address. Cookies are never sent. Without one, each
    ``get`` uses a fresh client that ignores proxy environment variables.
    """

    def __init__(self, policy: NetPolicy | None = None, http: httpx.AsyncClient | None = None) -> None:
        self.policy = policy or NetPolicy()
        self._http = http

    async def get(self, url: str, *, max_bytes: int, timeout: float, accept: str = "*/*") -> Fetched:
        """The final response after at most ``policy.max_redirects`` redirects.

        Raises Refused when a hop is not allowed, TooLarge past ``max_bytes``
        (checked while streaming), FetchError for anything else, including
        the whole exchange taking longer than ``timeout`` seconds.
        """
        target = self.policy.parse(url)
        try:
            async with asyncio.timeout(timeout), self._client() as client:
                for _ in range(self.policy.max_redirects + 1):
                    outcome = await self._hop(client, target, max_bytes, timeout, accept)
                    if isinstance(outcome, Fetched):
                        return outcome
                    target = self.policy.parse(outcome)
        except TimeoutError:
            raise FetchError(f"{url} did not answer completely within {timeout:g} s") from None
        raise FetchError(f"{url} redirected more than {self.policy.max_redirects} times")

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http is not None:
            yield self._http
            return
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
            yield client

    async def _hop(
        self, client: httpx.AsyncClient, target: httpx.URL, max_bytes: int, timeout: float, accept: str
    ) -> Fetched | httpx.URL:
        """One request: a Fetched, or the next URL when the answer is a redirect.

        Tries each checked address in turn when a connection cannot be made.
        """
        last: httpx.ConnectError | None = None
        for address in await self.policy.addresses(target):
            try:
                return await self._request(client, target, address, max_bytes, timeout, accept)
            except httpx.ConnectError as exc:
                last = exc
        raise FetchError(f"could not connect to {target.host}: {last}")

    async def _request(
        self, client: httpx.AsyncClient, target: httpx.URL, address: str, max_bytes: int, timeout: float, accept: str
    ) -> Fetched | httpx.URL:
        host = host_name(target)
        headers = {
            "Host": target.netloc.decode("ascii"),
            "User-Agent": self.policy.user_agent,
            "Accept": accept,
            "Accept-Encoding": "gzip, deflate",
        }
        extensions = {"sni_hostname": host} if target.scheme == "https" and address != host else {}
        request = client.build_request(
            "GET", target.copy_with(host=address), headers=headers, extensions=extensions, timeout=timeout
        )
        request.headers.pop("Cookie", None)
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
        except httpx.ConnectError:
            raise
        except httpx.HTTPError as exc:
            raise FetchError(f"request to {target} failed: {type(exc).__name__}: {exc}") from None
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                return target.join(location)
            data = await _read_capped(response, max_bytes, str(target))
        except httpx.HTTPError as exc:
            raise FetchError(f"reading {target} failed: {type(exc).__name__}: {exc}") from None
        finally:
            await response.aclose()
        media_type = response.headers.get("content-type", "").partition(";")[0]
        return Fetched(
            url=str(target),
            status=response.status_code,
            reason=response.reason_phrase,
            media_type=media_type.strip().lower(),
            charset=response.charset_encoding,
            data=data,
        )


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    """The decoded body, refusing as soon as raw or decoded bytes pass ``max_bytes``
    (a small compressed body can inflate enormously)."""
    too_large = TooLarge(f"{url} is larger than the {_size(max_bytes)} limit; it was not read")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(wbits=47)  # 32 + 15: accept gzip and zlib headers
    elif encoding in ("", "identity"):
        decoder = None
    else:
        raise FetchError(f"{url} answered with unsupported content encoding {encoding!r}")
    body = bytearray()
    raw = 0
    try:
        async for chunk in response.aiter_raw():
            raw += len(chunk)
            # At most one byte past the cap per step, so an inflating body never sits in memory whole.
            body += decoder.decompress(chunk, max_bytes - len(body) + 1) if decoder else chunk
            if raw > max_bytes or len(body) > max_bytes:
                raise too_large
        if decoder is not None:
            body += decoder.flush()
    except zlib.error as exc:
        raise FetchError(f"{url} sent a corrupt compressed body: {exc}") from None
    if len(body) > max_bytes:
        raise too_large
    return bytes(body)


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n / 1000:g} kB"
