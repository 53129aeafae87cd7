"""An HTTP GET that obeys a NetPolicy on every hop and bounds size and time.

The request goes to the IP literal that was checked, with the original name in
the Host header and as the TLS server name, so what was checked is what is
connected to. Redirects are followed here, one checked hop at a time.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Mapping
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

    async def get(
        self,
        url: str,
        *,
        max_bytes: int,
        timeout: float,
        accept: str = "*/*",
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        """The final response after at most ``policy.max_redirects`` redirects.

        ``headers`` go with the request and with redirects to the same origin
        (scheme, host and port), never elsewhere: they may hold a credential.
        Raises Refused when a hop is not allowed, TooLarge past ``max_bytes``
        (checked while streaming), FetchError for anything else, including
        the whole exchange taking longer than ``timeout`` seconds.
        """
        return await self._exchange("GET", url, None, max_bytes, timeout, accept, headers or {})

    async def post(
        self,
        url: str,
        content: bytes,
        *,
        max_bytes: int,
        timeout: float,
        accept: str = "*/*",
        headers: Mapping[str, str] | None = None,
    ) -> Fetched:
        """POST ``content`` (give its Content-Type in ``headers``). Like
        :meth:`get`, except that a redirect is never followed: it is a
        FetchError (a POST redirected as a GET would silently drop the body)."""
        return await self._exchange("POST", url, content, max_bytes, timeout, accept, headers or {})

    async def _exchange(
        self,
        method: str,
        url: str,
        content: bytes | None,
        max_bytes: int,
        timeout: float,
        accept: str,
        headers: Mapping[str, str],
    ) -> Fetched:
        target = self.policy.parse(url)
        origin = _origin(target)
        hops = self.policy.max_redirects if method == "GET" else 0
        try:
            async with asyncio.timeout(timeout), self._client() as client:
                for _ in range(hops + 1):
                    sent_headers = headers if _origin(target) == origin else {}
                    request = _Request(method, target, content, accept, sent_headers)
                    outcome = await self._hop(client, request, max_bytes, timeout)
                    if isinstance(outcome, Fetched):
                        return outcome
                    target = self.policy.parse(outcome)
        except TimeoutError:
            raise FetchError(f"{url} did not answer completely within {timeout:g} s") from None
        if hops == 0:
            raise FetchError(f"{url} answered with a redirect to {target}, which is not followed here")
        raise FetchError(f"{url} redirected more than {hops} times")

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._http is not None:
            yield self._http
            return
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as client:
            yield client

    async def _hop(
        self, client: httpx.AsyncClient, request: _Request, max_bytes: int, timeout: float
    ) -> Fetched | httpx.URL:
        """One request: a Fetched, or the next URL when the answer is a redirect.

        Tries each checked address in turn when a connection cannot be made.
        """
        last: httpx.ConnectError | None = None
        for address in await self.policy.addresses(request.target):
            try:
                return await self._request(client, request, address, max_bytes, timeout)
            except httpx.ConnectError as exc:
                last = exc
        raise FetchError(f"could not connect to {request.target.host}: {last}")

    async def _request(
        self, client: httpx.AsyncClient, request: _Request, address: str, max_bytes: int, timeout: float
    ) -> Fetched | httpx.URL:
        target = request.target
        host = host_name(target)
        headers = {
            "User-Agent": self.policy.user_agent,
            "Accept": request.accept,
            "Accept-Encoding": "gzip, deflate",
            **request.headers,
            "Host": target.netloc.decode("ascii"),
        }
        extensions = {"sni_hostname": host} if target.scheme == "https" and address != host else {}
        sent = client.build_request(
            request.method,
            target.copy_with(host=address),
            content=request.content,
            headers=headers,
            extensions=extensions,
            timeout=timeout,
        )
        sent.headers.pop("Cookie", None)
        try:
            response = await client.send(sent, stream=True, follow_redirects=False)
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


@dataclass(frozen=True, slots=True)
class _Request:
    """What one hop sends, apart from the address it is sent to."""

    method: str
    target: httpx.URL
    content: bytes | None
    accept: str
    headers: Mapping[str, str]


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, host_name(url), url.port


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
