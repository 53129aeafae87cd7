"""``python -m bot`` with METRICS_PORT, as a real process against the
Discord emulator: /healthz follows the gateway, /metrics shows the agents
and the runs in flight, and a taken port is refused with a clear message."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.bot_env import START, bot_environment, start_bot, terminate
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.model_servers import FakeOpenAIServer, Reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return response.status, await response.text()


async def until(probe: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Ask again until ``probe`` is true; the bot is
    another process, so there is no event of its to wait on."""

    async def loop() -> None:
        while True:
            try:
                if await probe():
                    return
            except aiohttp.ClientConnectionError:
                pass  # not listening yet
            await asyncio.sleep(0.1)

    await asyncio.wait_for(loop(), timeout)


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


async def test_bot_serves_health_and_metrics(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    emu = DiscordEmulator()
    await emu.start()
    try:
        async with FakeOpenAIServer() as model:
            model.script(Reply.text("never arrives", delay=60))
            proc = await start_bot(tmp_path, tmp_path / "bot.db", emu, model, METRICS_PORT=str(port))
            try:

                async def healthy() -> bool:
                    return await get(f"{base}/healthz") == (200, '{"status": "ok"}')

                await until(healthy)
                status, text = await get(f"{base}/metrics")
                assert status == 200
                assert sample(text, "executus_runs_total", agent="assistant", status="ok") == 0
                assert sample(text, "executus_runs_in_flight") == 0

                await emu.send_slash_command("ask", {"prompt": "slow question"}, user=emu.member)
                await emu.wait_for(lambda: model.requests, timeout=START)
                _, text = await get(f"{base}/metrics")
                assert sample(text, "executus_runs_in_flight") == 1

                await emu.stop()  # Discord goes away; discord.py keeps trying to reconnect

                async def gateway_down() -> bool:
                    return await get(f"{base}/healthz") == (503, '{"status": "unhealthy", "failed": ["gateway"]}')

                await until(gateway_down)
            finally:
                out = await terminate(proc)
            assert proc.returncode == 0, out
    finally:
        await emu.stop()


async def test_a_taken_metrics_port_is_refused_with_what_to_do(tmp_path: Path) -> None:
    async with DiscordEmulator() as emu:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            env = bot_environment(
                tmp_path / "bot.db",
                DISCORD_TOKEN=emu.token,
                DISCORD_API_BASE=emu.api_base,
                METRICS_PORT=str(taken.getsockname()[1]),
            )
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=tmp_path, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "error: cannot serve /metrics on 127.0.0.1:" in out.decode()
    assert "set METRICS_PORT to a free port" in out.decode()
    assert "Traceback" not in out.decode()
