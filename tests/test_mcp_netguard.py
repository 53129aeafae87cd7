"""The MCP SDK's HTTP client under the fetch tools' network rules
(bot/mcp/netguard.py), against a loopback server that records what reached it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import pytest

from bot.mcp import HttpServer
from bot.mcp.netguard import PolicyTransport
from executor.tools.builtin.netsafe import NetPolicy

NAME = "mcp.internal.test"


class Recorder:
    """A one-line HTTP server on 127.0.0.1 that keeps each request's headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[1:]
        self.requests.append({k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)})
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    server = await asyncio.start_server(rec._handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    async with server:
        yield rec


async def resolve_to_loopback(host: str, port: int) -> list[str]:
    assert host == NAME
    return ["127.0.0.1"]


async def test_a_name_is_checked_and_the_checked_address_is_connected_to(recorder: Recorder) -> None:
    policy = NetPolicy(allow_loopback=True, resolver=resolve_to_loopback)
    async with httpx2.AsyncClient(transport=PolicyTransport(policy)) as client:
        response = await client.get(f"http://{NAME}:{recorder.port}/mcp")
    assert response.status_code == 200 and response.text == "ok"
    assert recorder.requests[0]["host"] == f"{NAME}:{recorder.port}"  # the name travels in Host
    assert response.request.url.host == NAME  # the SDK sees the URL it asked for (its redirect checks use it)


async def test_a_name_resolving_to_loopback_is_refused_by_default(recorder: Recorder) -> None:
    policy = NetPolicy(resolver=resolve_to_loopback)
    async with httpx2.AsyncClient(transport=PolicyTransport(policy)) as client:
        with pytest.raises(httpx2.ConnectError, match=f"refused to connect to .*{NAME} resolves to 127.0.0.1: .*loopback"):
            await client.get(f"http://{NAME}:{recorder.port}/mcp")
    assert recorder.requests == []


async def test_allow_private_never_opens_cloud_metadata() -> None:
    server = HttpServer("x", "http://127.0.0.1/mcp", allow_private=True)
    async with httpx2.AsyncClient(transport=PolicyTransport(server.policy())) as client:
        with pytest.raises(httpx2.ConnectError, match="cloud metadata"):
            await client.get("http://169.254.169.254/latest/meta-data/")
