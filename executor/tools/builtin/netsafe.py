"""Which addresses a tool may fetch from, decided before any connection.

Tools that fetch URLs take the URL from the model, and the model takes it from
whoever wrote the message or the page it read. Without these rules a member
could make the bot read its own host's services, the LAN or the cloud metadata
endpoint (server-side request forgery). The rules apply to the address a
hostname resolves to, and :mod:`executor.tools.builtin.safefetch` connects to
exactly that address, so a second DNS answer cannot slip past the check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from executor.tools.builtin.errors import ToolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""Maps ``(hostname, port)`` to IP address strings; raises FetchError when the
name does not resolve."""

#: Cloud instance-metadata endpoints (AWS, GCP, Azure, Alibaba, ECS/EKS task
#: credentials). Refused under every policy: they hand out credentials.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "168.63.129.16",
        "100.100.100.200",
        "fd00:ec2::254",
        "fd00:ec2::23",
    )
)
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
#: What ``allow_private`` opens: the LAN ranges (RFC 1918, IPv6 unique-local).
#: Narrower than ``is_private``, which also covers documentation and reserved ranges.
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class FetchError(ToolError):
    """A fetch that failed; the message is written for the model to act on."""


class Refused(FetchError):
    """The policy does not allow this URL or the address it resolves to."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the event loop's getaddrinfo (no blocking the loop)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    return [str(info[4][0]) for info in infos]


def address_kind(ip: IPAddress) -> str | None:
    """What makes an address non-public ("loopback", "private"...), or None
    for an ordinary public address. IPv6 forms that embed an IPv4 address
    (mapped, 6to4, NAT64) are judged by the IPv4 address they carry."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_kind(embedded)
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_loopback, "loopback"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "shared (CGNAT)"),
        (any(ip in net for net in _PRIVATE), "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-public"),
    )
    return next((kind for hit, kind in checks if hit), None)


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True, slots=True)
class NetPolicy:
    """Where fetching tools may connect. The defaults allow public addresses only.

    ``allow_loopback`` and ``allow_private`` (RFC 1918, unique-local, CGNAT)
    open those ranges, ``allowed_networks`` opens specific ones, and
    ``trusted_hosts`` opens whatever addresses the named hosts resolve to
    (a server the operator configured, such as a SearXNG on the LAN, without
    opening the LAN to every URL a model gives); cloud metadata addresses
    stay refused regardless. ``resolver`` replaces the system resolver (tests
    make a name resolve where they need it).
    """

    allow_loopback: bool = False
    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    #: Host names as :func:`host_name` gives them (lowercase, IDNA, no brackets).
    trusted_hosts: frozenset[str] = frozenset()
    max_redirects: int = 5
    resolver: Resolver | None = None
    user_agent: str = "executus (Discord bot; fetches pages on a member's request)"

    def refusal(self, address: str, *, trusted: bool = False) -> str | None:
        """Why ``address`` may not be fetched from, or None when it may.
        ``trusted``: it belongs to one of ``trusted_hosts``."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return f"{address!r} is not an IP address"
        kind = address_kind(ip)
        if kind is None:
            return None
        if kind == "cloud metadata":
            return f"{address} is a cloud metadata address"
        if trusted or any(ip in net for net in self.allowed_networks):
            return None
        if kind == "loopback" and self.allow_loopback:
            return None
        if kind in ("private", "shared (CGNAT)") and self.allow_private:
            return None
        return f"{address} is a {kind} address"

    def parse(self, url: str | httpx.URL) -> httpx.URL:
        """The URL if its form may be fetched: http(s), a host, no credentials."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise FetchError(f"not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise Refused(f"refused to fetch {url}: only http:// and https:// URLs can be fetched")
        if not parsed.raw_host:
            raise FetchError(f"the URL {str(url)!r} has no host")
        if parsed.userinfo:
            raise Refused(f"refused to fetch {parsed.copy_with(userinfo=b'')}: the URL carries a user name or password")
        if host_name(parsed) in METADATA_HOSTS:
            raise Refused(f"refused to fetch {url}: {parsed.host} is a cloud metadata host")
        return parsed

    async def addresses(self, url: httpx.URL) -> list[str]:
        """The addresses ``url``'s host resolves to, all checked; raises Refused
        when any of them is not allowed (a name that mixes public and private
        answers is treated as hostile)."""
        host = host_name(url)
        try:
            ipaddress.ip_address(host)
            found = [host]
        except ValueError:
            resolve = self.resolver or system_resolver
            found = list(dict.fromkeys(await resolve(host, url.port or _DEFAULT_PORTS[url.scheme])))
        if not found:
            raise FetchError(f"host {host!r} has no addresses")
        trusted = host in self.trusted_hosts
        for address in found:
            reason = self.refusal(address, trusted=trusted)
            if reason is not None:
                via = "" if address == host else f"{host} resolves to {address}: "
                raise Refused(f"refused to fetch {url}: {via}{reason}")
        return found


_DEFAULT_PORTS = {"http": 80, "https": 443}


def host_name(url: httpx.URL) -> str:
    """The ASCII host (IDNA-encoded, no brackets, no trailing dot), lowercased."""
    return url.raw_host.decode("ascii").rstrip(".").lower()
