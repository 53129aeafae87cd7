"""/healthz: the gateway check on a real discord.py client against the
emulator, the database check on a real store, the endpoint's 200 and 503,
and the container's probe (``python -m bot.healthcheck``) as a process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import pytest

from bot.discord_host.health import gateway_check
from bot.health import HealthCheck, database_check, failing
from bot.healthcheck import url
from bot.metrics import Metrics
from bot.metrics_server import MetricsServer
from bot.store import Store
from tests.fakes.discord_emulator import DiscordEmulator

ROOT = Path(__file__).resolve().parent.parent


class Switch:
    """A check whose answer the test sets."""

    def __init__(self, healthy: bool = True) -> None:
        self.healthy = healthy

    async def __call__(self) -> bool:
        return self.healthy


async def get_healthz(server: MetricsServer) -> tuple[int, object]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{server.port}/healthz") as response:
            return response.status, await response.json()


async def test_healthz_is_200_when_every_check_passes_and_503_naming_those_that_fail() -> None:
    gateway, database = Switch(), Switch()
    async with MetricsServer(Metrics(), {"gateway": gateway, "database": database}, "127.0.0.1", 0) as server:
        assert await get_healthz(server) == (200, {"status": "ok"})
        database.healthy = False
        assert await get_healthz(server) == (503, {"status": "unhealthy", "failed": ["database"]})
        gateway.healthy = False
        assert await get_healthz(server) == (503, {"status": "unhealthy", "failed": ["gateway", "database"]})
        gateway.healthy = database.healthy = True
        assert await get_healthz(server) == (200, {"status": "ok"})


async def test_a_check_that_raises_or_hangs_fails_and_its_error_stays_private() -> None:
    async def raises() -> bool:
        raise ConnectionError("could not connect to postgresql://executus:s3cret@db/executus")

    async def hangs() -> bool:
        await asyncio.Event().wait()
        return True

    checks: dict[str, HealthCheck] = {"raises": raises, "hangs": hangs, "passes": Switch()}
    assert await failing(checks, timeout=0.05) == ["raises", "hangs"]
    async with MetricsServer(Metrics(), {"raises": raises}, "127.0.0.1", 0) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/healthz") as response:
                assert response.status == 503
                assert "s3cret" not in await response.text()


@pytest.mark.parametrize("client_class", [discord.Client, discord.AutoShardedClient])
async def test_gateway_check_follows_the_clients_connection(client_class: type[discord.Client]) -> None:
    async with DiscordEmulator() as emu:
        with emu.patch_discord():
            client = client_class(intents=discord.Intents.none())
            connected = gateway_check(client)
            assert await connected() is False  # not logged in yet
            task = asyncio.create_task(client.start(emu.token))
            try:
                await emu.wait_until_ready()
                await emu.wait_for(lambda: client.is_ready() or None)
                assert await connected() is True
            finally:
                await client.close()
                await asyncio.gather(task, return_exceptions=True)
            assert await connected() is False


async def test_gateway_check_fails_while_discord_py_reconnects() -> None:
    emu = DiscordEmulator()
    await emu.start()
    with emu.patch_discord():
        client = discord.Client(intents=discord.Intents.none())
        dropped = asyncio.Event()

        async def on_disconnect() -> None:
            dropped.set()

        client.event(on_disconnect)
        connected = gateway_check(client)
        task = asyncio.create_task(client.start(emu.token))
        try:
            await emu.wait_until_ready()
            await emu.wait_for(lambda: client.is_ready() or None)
            assert await connected() is True
            await emu.stop()  # Discord goes away: discord.py keeps trying to reconnect
            await asyncio.wait_for(dropped.wait(), 10)
            assert client.is_ready() and not client.is_closed()  # what a naive check would read as fine
            assert await connected() is False
        finally:
            await client.close()
            await asyncio.gather(task, return_exceptions=True)


async def test_database_check_reads_through_the_store(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    reachable = database_check(store)
    assert await reachable() is True
    await store.close()
    assert await failing({"database": reachable}) == ["database"]


# ------------------------------------------------------- the container probe


@pytest.fixture
async def probed() -> AsyncIterator[tuple[Switch, MetricsServer]]:
    check = Switch()
    async with MetricsServer(Metrics(), {"database": check}, "127.0.0.1", 0) as server:
        yield check, server


async def probe(**env: str) -> tuple[int, str]:
    """Run ``python -m bot.healthcheck`` as the image's HEALTHCHECK does."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("METRICS_") and "proxy" not in k.lower()}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.healthcheck", cwd=ROOT, env={**base, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_probe_passes_on_200_and_fails_on_503(probed: tuple[Switch, MetricsServer]) -> None:
    check, server = probed
    # METRICS_HOST=0.0.0.0 as in the image: the probe asks loopback, and not
    # through a proxy the container may have set for the bot's own traffic.
    no_proxy_here = "http://127.0.0.1:9"
    assert await probe(
        METRICS_PORT=str(server.port), METRICS_HOST="0.0.0.0", http_proxy=no_proxy_here, HTTP_PROXY=no_proxy_here
    ) == (0, '{"status": "ok"}\n')
    check.healthy = False
    code, out = await probe(METRICS_PORT=str(server.port), METRICS_HOST="0.0.0.0")
    assert code == 1 and "503" in out and '"failed": ["database"]' in out


async def test_probe_fails_with_a_reason_when_nothing_answers(probed: tuple[Switch, MetricsServer]) -> None:
    _, server = probed
    code, out = await probe()
    assert code == 1 and "METRICS_PORT is not set" in out
    await server.close()
    code, out = await probe(METRICS_PORT=str(server.port))
    assert code == 1 and "no answer from" in out


def test_probe_url_from_the_settings() -> None:
    assert url({"METRICS_PORT": "9464"}) == "http://127.0.0.1:9464/healthz"
    assert url({"METRICS_PORT": "9464", "METRICS_HOST": "::"}) == "http://127.0.0.1:9464/healthz"
    assert url({"METRICS_PORT": "9464", "METRICS_HOST": "10.1.2.3"}) == "http://10.1.2.3:9464/healthz"
    assert url({"METRICS_PORT": "9464", "METRICS_HOST": "::1"}) == "http://[::1]:9464/healthz"
    assert url({"METRICS_PORT": " "}) is None
