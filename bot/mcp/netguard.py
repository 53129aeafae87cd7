"""The MCP SDK's HTTP client, held to a NetPolicy on every request.

The SDK speaks HTTP through ``httpx2``; this transport sits under its client
and does what ``executor/tools/builtin/safefetch.py`` does for ``fetch_url``:
resolve the host, check every address against the policy, and connect to
the checked address (the name stays in the Host header and is the TLS
server name), so a second DNS answer cannot slip past the check. The SDK
follows redirects only within the server's origin, and each hop comes back
through here.
"""

from __future__ import annotations

import httpx2

from executor.tools.builtin import FetchError, NetPolicy, host_name


class PolicyTransport(httpx2.AsyncBaseTransport):
    """Sends each request to an address ``policy`` allows. A refused or
    unresolvable host fails the request as an ``httpx2.ConnectError`` naming
    the reason, which the SDK treats like any connection failure."""

    def __init__(self, policy: NetPolicy, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self._policy = policy
        # trust_env off: no proxy variables (a proxy would connect on our behalf, unchecked).
        self._inner = inner or httpx2.AsyncHTTPTransport(trust_env=False)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            target = self._policy.parse(str(request.url))
            addresses = await self._policy.addresses(target)
        except FetchError as exc:
            raise httpx2.ConnectError(str(exc).replace("refused to fetch", "refused to connect to"), request=request) from None
        host = host_name(target)
        original = request.url
        last: httpx2.ConnectError | None = None
        for address in addresses:
            request.url = original.copy_with(host=address)
            if original.scheme == "https" and address != host:
                request.extensions = {**request.extensions, "sni_hostname": host}
            try:
                return await self._inner.handle_async_request(request)
            except httpx2.ConnectError as exc:
                last = exc
            finally:
                request.url = original
        raise httpx2.ConnectError(f"could not connect to {original.host}: {last}", request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()
