"""fetch_url and the network policy under it: refusals happen before any
connection, and a fetch connects to the address that was checked."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from executor.tools.base import Tool, ToolResult
from executor.tools.builtin import NetPolicy, Refused, SafeFetcher, builtin_tools
from executor.tools.builtin.fetch import MAX_DOWNLOAD_BYTES
from executor.tools.builtin.htmltext import html_to_text
from executor.tools.builtin.netsafe import FetchError, Resolver, address_kind
from executor.tools.builtin.safefetch import TooLarge
from executor.tools.invocation import Invocation

LOOPBACK = NetPolicy(allow_loopback=True)
PAGE = """<html><head><title>The  Title</title><style>p{color:red}</style>
<script>var secret = "do not show";</script></head>
<body><h1>Heading</h1><p>First   paragraph with <a href="/next">a link</a>.</p>
<ul><li>one</li><li>two</li></ul><noscript>enable js</noscript>
<a href="mailto:x@example.com">mail</a><a href="https://example.org/abs">abs</a></body></html>"""


def fetch_tool(policy: NetPolicy | None = None, http: httpx.AsyncClient | None = None) -> Tool:
    return next(t for t in builtin_tools(policy, http) if t.name == "fetch_url")


async def call(tool: Tool, **args: object) -> ToolResult:
    out = await tool.handler(Invocation(caller_id="tester"), dict(args))
    return ToolResult(out) if isinstance(out, str) else out


def fixed_resolver(mapping: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        return mapping[host]

    return resolve


class Body(httpx.AsyncByteStream):
    """A streamed mock body (a bytes body would arrive already read)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data


def recording_client(sent: list[httpx.Request]) -> httpx.AsyncClient:
    """A client that never touches the network and remembers what it was asked to send."""

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, headers={"content-type": "text/plain"}, stream=Body(b"reached"))

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    big = b"x" * (MAX_DOWNLOAD_BYTES + 1)
    release = asyncio.Event()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def data(_: web.Request) -> web.Response:
        return web.json_response({"b": [1, 2], "a": "é"})

    async def host(request: web.Request) -> web.Response:
        return web.Response(text=f"host={request.headers['Host']}")

    async def declared_big(_: web.Request) -> web.Response:
        return web.Response(body=big, content_type="text/plain")

    async def streamed_big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(MAX_DOWNLOAD_BYTES // 65536 + 2):
            await resp.write(b"y" * 65536)
        await resp.write_eof()
        return resp

    async def bomb(_: web.Request) -> web.Response:
        body = gzip.compress(b"\0" * (MAX_DOWNLOAD_BYTES * 5))
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    async def small_gzip(_: web.Request) -> web.Response:
        body = gzip.compress(b"packed text")
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(_: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def binary(_: web.Request) -> web.Response:
        return web.Response(body=b"\0\1\2\3", content_type="application/octet-stream")

    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404, text="nothing here", content_type="text/plain")

    async def long_text(_: web.Request) -> web.Response:
        return web.Response(text="".join(f"line {i:04d}\n" for i in range(3000)), content_type="text/plain")

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    async def raw(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.query.items() if k in ("Content-Type", "Content-Encoding")}
        return web.Response(body=request.query["body"].encode("latin-1"), headers=headers)

    app = web.Application()
    for path, handler in {
        "/slow": slow,
        "/raw": raw,
        "/page": page,
        "/data": data,
        "/host": host,
        "/big": declared_big,
        "/streamed-big": streamed_big,
        "/bomb": bomb,
        "/gzip": small_gzip,
        "/redirect": redirect,
        "/loop": loop,
        "/binary": binary,
        "/missing": missing,
        "/long": long_text,
    }.items():
        app.router.add_get(path, handler)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    release.set()
    await srv.close()


def url(srv: TestServer, path: str) -> str:
    return str(srv.make_url(path))


def raw_url(srv: TestServer, body: bytes, **headers: str) -> str:
    query = {"body": body.decode("latin-1"), **{k.replace("_", "-").title(): v for k, v in headers.items()}}
    return str(srv.make_url("/raw").with_query(query))


# -- succeeding only when loopback is explicitly allowed ---------------------


async def test_reads_html_as_text_when_loopback_is_allowed(server: TestServer) -> None:
    result = await call(fetch_tool(LOOPBACK), url=url(server, "/page"))
    assert not result.is_error, result.content
    assert "Title: The Title" in result.content
    assert "Heading" in result.content and "First paragraph with a link." in result.content
    assert "- one" in result.content
    assert "do not show" not in result.content and "color:red" not in result.content
    assert "enable js" not in result.content
    assert f"- a link: {url(server, '/next')}" in result.content
    assert "- abs: https://example.org/abs" in result.content
    assert "mailto:" not in result.content


async def test_default_policy_refuses_the_same_loopback_url(server: TestServer) -> None:
    result = await call(fetch_tool(), url=url(server, "/page"))
    assert result.is_error
    assert "loopback" in result.content


async def test_json_is_pretty_printed(server: TestServer) -> None:
    result = await call(fetch_tool(LOOPBACK), url=url(server, "/data"))
    assert not result.is_error
    assert json.dumps({"b": [1, 2], "a": "é"}, indent=2, ensure_ascii=False) in result.content


async def test_gzip_body_is_decoded(server: TestServer) -> None:
    result = await call(fetch_tool(LOOPBACK), url=url(server, "/gzip"))
    assert "packed text" in result.content


async def test_long_text_comes_in_windows(server: TestServer) -> None:
    tool = fetch_tool(LOOPBACK)
    first = await call(tool, url=url(server, "/long"), max_chars=1000)
    assert "offset=1000" in first.content and "line 0099" in first.content and "line 0100" not in first.content
    second = await call(tool, url=url(server, "/long"), offset=1000, max_chars=1000)
    assert "line 0100" in second.content and "line 0099" not in second.content
    past = await call(tool, url=url(server, "/long"), offset=10**6)
    assert past.is_error and "past the end" in past.content


async def test_http_error_and_binary_are_errors(server: TestServer) -> None:
    tool = fetch_tool(LOOPBACK)
    missing = await call(tool, url=url(server, "/missing"))
    assert missing.is_error and "HTTP 404" in missing.content and "nothing here" in missing.content
    binary = await call(tool, url=url(server, "/binary"))
    assert binary.is_error and "not text" in binary.content


async def test_bad_arguments_are_explained() -> None:
    result = await call(fetch_tool(), url="https://example.org", max_chars=5)
    assert result.is_error and "max_chars" in result.content


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b'{"broken": ', {"content_type": "application/json"}, '{"broken": '),
        (b"caf\xc3\xa9", {"content_type": "text/plain; charset=x-no-such-charset"}, "café"),
        (b"caf\xe9", {"content_type": "text/plain; charset=latin-1"}, "café"),
    ],
)
async def test_text_is_decoded_leniently(
    server: TestServer, body: bytes, headers: dict[str, str], expected: str
) -> None:
    result = await call(fetch_tool(LOOPBACK), url=raw_url(server, body, **headers))
    assert not result.is_error, result.content
    assert expected in result.content


@pytest.mark.parametrize(
    ("body", "headers", "complaint"),
    [
        (b"not gzip at all", {"content_type": "text/plain", "content_encoding": "gzip"}, "corrupt compressed body"),
        (b"whatever", {"content_type": "text/plain", "content_encoding": "br"}, "unsupported content encoding 'br'"),
    ],
)
async def test_unreadable_bodies_are_errors(
    server: TestServer, body: bytes, headers: dict[str, str], complaint: str
) -> None:
    result = await call(fetch_tool(LOOPBACK), url=raw_url(server, body, **headers))
    assert result.is_error and complaint in result.content


@pytest.mark.parametrize(("body", "readable"), [(b"plain words", True), (b"\0\1\2binary", False)])
async def test_without_a_content_type_text_is_told_from_binary(body: bytes, readable: bool) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Body(body))

    policy = NetPolicy(resolver=fixed_resolver({"untyped.example": ["93.184.216.34"]}))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        result = await call(fetch_tool(policy, http), url="http://untyped.example/file")
    assert result.is_error is not readable
    assert ("plain words" in result.content) if readable else ("is binary data" in result.content)


async def test_slow_server_hits_the_time_limit(server: TestServer) -> None:
    with pytest.raises(FetchError, match="did not answer completely within 0.3 s"):
        await SafeFetcher(LOOPBACK).get(url(server, "/slow"), max_bytes=100, timeout=0.3)


async def test_unreachable_host_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match="could not connect to 127.0.0.1"):
        await SafeFetcher(LOOPBACK).get(f"http://127.0.0.1:{port}/", max_bytes=100, timeout=5)


# -- refusals ---------------------------------------------------------------


async def test_system_resolver_answer_is_checked_too() -> None:
    result = await call(fetch_tool(), url="http://localhost:9/")
    assert result.is_error
    assert "localhost resolves to" in result.content and "loopback" in result.content


@pytest.mark.parametrize(
    ("target", "answer", "complaint"),
    [
        ("http://[::1/", [], "not a valid URL"),
        ("http://", [], "has no host"),
        ("no scheme", [], "only http:// and https://"),
        ("http://nowhere.example/", [], "has no addresses"),
        ("http://odd.example/", ["not-an-ip"], "'not-an-ip' is not an IP address"),
    ],
)
async def test_malformed_urls_and_odd_resolver_answers(target: str, answer: list[str], complaint: str) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return answer

    with pytest.raises(FetchError, match=complaint):
        await SafeFetcher(NetPolicy(resolver=resolve)).get(target, max_bytes=100, timeout=5)



@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "file:///etc/passwd",
        "ftp://example.org/file",
        "http://user:secret@example.org/",
    ],
)
async def test_default_policy_refuses_before_connecting(target: str) -> None:
    sent: list[httpx.Request] = []
    async with recording_client(sent) as http:
        result = await call(fetch_tool(NetPolicy(resolver=fixed_resolver({})), http), url=target)
    assert result.is_error
    assert result.content.startswith("error: refused to fetch")
    assert sent == []


async def test_metadata_stays_refused_under_the_loosest_policy() -> None:
    policy = NetPolicy(
        allow_loopback=True, allow_private=True, allowed_networks=(ipaddress.ip_network("169.254.0.0/16"),)
    )
    with pytest.raises(Refused, match="metadata"):
        await SafeFetcher(policy).get("http://169.254.169.254/", max_bytes=100, timeout=5)


async def test_hostname_resolving_to_private_address_is_refused() -> None:
    sent: list[httpx.Request] = []
    calls: list[str] = []
    policy = NetPolicy(resolver=fixed_resolver({"intranet.example": ["10.1.2.3"]}, calls))
    async with recording_client(sent) as http:
        result = await call(fetch_tool(policy, http), url="http://intranet.example/admin")
    assert result.is_error
    assert "intranet.example resolves to 10.1.2.3" in result.content and "private" in result.content
    assert calls == ["intranet.example"]
    assert sent == []


async def test_hostname_with_one_private_answer_among_public_ones_is_refused() -> None:
    policy = NetPolicy(resolver=fixed_resolver({"mixed.example": ["93.184.216.34", "127.0.0.1"]}))
    with pytest.raises(Refused, match="127.0.0.1"):
        await SafeFetcher(policy).get("http://mixed.example/", max_bytes=100, timeout=5)


@pytest.mark.parametrize(
    "destination", ["http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"]
)
async def test_redirect_to_a_forbidden_place_is_refused(server: TestServer, destination: str) -> None:
    start = str(server.make_url("/redirect").with_query(to=destination))
    result = await call(fetch_tool(LOOPBACK), url=start)
    assert result.is_error
    assert "10.0.0.1 is a private" in result.content or "metadata" in result.content or "only http" in result.content


async def test_relative_redirect_is_followed_and_loops_are_bounded(server: TestServer) -> None:
    fetcher = SafeFetcher(LOOPBACK)
    page = await fetcher.get(str(server.make_url("/redirect").with_query(to="/data")), max_bytes=10_000, timeout=5)
    assert page.url == url(server, "/data") and page.status == 200
    with pytest.raises(FetchError, match="redirected more than 5 times"):
        await fetcher.get(url(server, "/loop"), max_bytes=10_000, timeout=5)


@pytest.mark.parametrize("path", ["/big", "/streamed-big", "/bomb"])
async def test_response_over_the_limit_is_refused(server: TestServer, path: str) -> None:
    with pytest.raises(TooLarge):
        await SafeFetcher(LOOPBACK).get(url(server, path), max_bytes=MAX_DOWNLOAD_BYTES, timeout=10)
    result = await call(fetch_tool(LOOPBACK), url=url(server, path))
    assert result.is_error and "larger than the 2 MB limit" in result.content


# -- connecting to the checked address --------------------------------------


async def test_connects_to_the_checked_address_with_the_original_host_header(server: TestServer) -> None:
    calls: list[str] = []
    policy = NetPolicy(allow_loopback=True, resolver=fixed_resolver({"made-up.invalid": ["127.0.0.1"]}, calls))
    result = await call(fetch_tool(policy), url=f"http://made-up.invalid:{server.port}/host")
    assert not result.is_error, result.content
    assert f"host=made-up.invalid:{server.port}" in result.content
    # One lookup, ours: ".invalid" never resolves, so any second lookup would have failed the request.
    assert calls == ["made-up.invalid"]


async def test_https_request_goes_to_the_ip_with_sni_and_falls_back_on_connect_errors() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "192.0.2.1":
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(200, headers={"content-type": "text/plain", "set-cookie": "s=1"}, stream=Body(b"ok"))

    policy = NetPolicy(
        allowed_networks=(ipaddress.ip_network("192.0.2.0/24"),),
        resolver=fixed_resolver({"site.example": ["192.0.2.1", "192.0.2.2"]}),
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        fetcher = SafeFetcher(policy, http)
        page = await fetcher.get("https://site.example/a?b=1", max_bytes=100, timeout=5)
        await fetcher.get("https://site.example/again", max_bytes=100, timeout=5)
    assert page.text() == "ok" and page.url == "https://site.example/a?b=1"
    assert [str(r.url) for r in seen[:2]] == ["https://192.0.2.1/a?b=1", "https://192.0.2.2/a?b=1"]
    assert all(r.headers["host"] == "site.example" for r in seen)
    assert all(r.extensions["sni_hostname"] == "site.example" for r in seen)
    assert "cookie" not in seen[-1].headers


# -- the rules themselves ---------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.53", "loopback"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("100.127.0.1", "shared (CGNAT)"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("169.254.1.1", "link-local"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "non-public"),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_private_ranges_open_only_when_allowed() -> None:
    assert NetPolicy().refusal("10.0.0.1") is not None
    assert NetPolicy(allow_private=True).refusal("10.0.0.1") is None
    assert NetPolicy(allow_private=True).refusal("127.0.0.1") is not None
    assert NetPolicy(allow_loopback=True).refusal("10.0.0.1") is not None
    assert NetPolicy(allowed_networks=(ipaddress.ip_network("10.9.0.0/16"),)).refusal("10.9.1.1") is None


def test_html_to_text_keeps_preformatted_text_and_drops_hidden_elements() -> None:
    page = html_to_text(
        "<p>a  b</p><pre>x  y\n  z</pre><template>t</template><svg><text>s</text></svg>"
        '<noscript><a href="https://hidden.example/">hidden</a></noscript></p>',
        "https://base.example/",
    )
    assert page.text == "a b\n\nx  y\nz"
    assert page.links == []
