"""Metrics over real HTTP: counts after runs of every status, labels that
carry no content, Discord 429s counted while discord.py still retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import discord
import discord.http
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import OTHER, RUN_STATUSES, Metrics, rate_limit_trace
from bot.metrics_server import MetricsServer, serving
from executor.llm.types import Usage

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(server: MetricsServer) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
async def served() -> AsyncIterator[tuple[Metrics, MetricsServer]]:
    metrics = Metrics()
    async with MetricsServer(metrics, {}, "127.0.0.1", 0) as server:
        yield metrics, server


async def test_scrape_counts_runs_of_every_status(served: tuple[Metrics, MetricsServer]) -> None:
    metrics, server = served
    metrics.declare(agents=["assistant", "researcher"], models=["gpt-4o-mini"], tools=["calculator", "fetch_url"])
    assert set(RUN_STATUSES) == {"ok", "error", "timeout", "cancelled", "killed", "interrupted", "rejected"}
    # Status number i ends i+1 times for the assistant, so every count is distinct.
    for i, status in enumerate(RUN_STATUSES):
        for _ in range(i + 1):
            metrics.run_finished("assistant", status, None if status in ("interrupted", "rejected") else 3.0)
    metrics.run_finished("researcher", "ok", 45.0)
    metrics.model_call("gpt-4o-mini", Usage(input_tokens=1200, output_tokens=80), cost_micros=228)
    metrics.model_call("gpt-4o-mini", Usage(input_tokens=300, output_tokens=20), cost_micros=None)
    metrics.tool_call("calculator", ok=True)
    metrics.tool_call("calculator", ok=True)
    metrics.tool_call("fetch_url", ok=False)
    metrics.rest_429("user")
    metrics.rest_429("global")
    metrics.store_write(0.002)
    in_flight = {"runs": 3}
    metrics.watch_runs(in_flight=lambda: in_flight["runs"], queued=lambda: 5)

    _, samples = await scrape(server)

    for i, status in enumerate(RUN_STATUSES):
        assert value(samples, "executus_runs_total", agent="assistant", status=status) == i + 1, status
    assert value(samples, "executus_runs_total", agent="researcher", status="ok") == 1
    assert value(samples, "executus_runs_total", agent="researcher", status="error") == 0  # declared: starts at 0
    # Five assistant statuses had a duration (3 s each, 1+2+3+4+5 runs); refused and interrupted runs none.
    assert value(samples, "executus_run_duration_seconds_count", agent="assistant") == 15
    assert value(samples, "executus_run_duration_seconds_bucket", agent="assistant", le="2.0") == 0
    assert value(samples, "executus_run_duration_seconds_bucket", agent="assistant", le="5.0") == 15
    assert value(samples, "executus_run_duration_seconds_sum", agent="researcher") == 45.0
    assert value(samples, "executus_model_calls_total", model="gpt-4o-mini") == 2
    assert value(samples, "executus_model_tokens_total", model="gpt-4o-mini", type="input") == 1500
    assert value(samples, "executus_model_tokens_total", model="gpt-4o-mini", type="output") == 100
    assert value(samples, "executus_model_cost_usd_total", model="gpt-4o-mini") == pytest.approx(0.000228)
    assert value(samples, "executus_model_calls_unpriced_total", model="gpt-4o-mini") == 1
    assert value(samples, "executus_tool_calls_total", tool="calculator", outcome="ok") == 2
    assert value(samples, "executus_tool_calls_total", tool="fetch_url", outcome="error") == 1
    assert value(samples, "executus_discord_rate_limited_total", scope="user") == 1
    assert value(samples, "executus_discord_rate_limited_total", scope="global") == 1
    assert value(samples, "executus_discord_rate_limited_total", scope="shared") == 0
    assert value(samples, "executus_store_write_seconds_count") == 1
    assert value(samples, "executus_runs_in_flight") == 3
    assert value(samples, "executus_runs_queued") == 5
    assert value(samples, "process_resident_memory_bytes") > 0

    in_flight["runs"] = 0  # gauges follow the host at each scrape
    _, samples = await scrape(server)
    assert value(samples, "executus_runs_in_flight") == 0


async def test_labels_never_carry_content_or_secrets(served: tuple[Metrics, MetricsServer]) -> None:
    metrics, server = served
    metrics.declare(agents=["assistant"], models=["gpt-4o"], tools=["calculator"])
    content = "please post <@123> my password is hunter2"
    secret = "sk-proj-abcdefghijklmnop"
    metrics.tool_call(content, ok=True)  # a model may name any tool it likes
    metrics.tool_call("calculator__evil", ok=False)
    metrics.model_call(secret, Usage(input_tokens=1), cost_micros=1)
    metrics.run_finished(content, "ok", 1.0)
    metrics.rest_429(content)

    text, samples = await scrape(server)

    assert "hunter2" not in text and secret not in text and "calculator__evil" not in text
    assert value(samples, "executus_tool_calls_total", tool=OTHER, outcome="ok") == 1
    assert value(samples, "executus_tool_calls_total", tool=OTHER, outcome="error") == 1
    assert value(samples, "executus_model_calls_total", model=OTHER) == 1
    assert value(samples, "executus_runs_total", agent=OTHER, status="ok") == 1
    assert value(samples, "executus_discord_rate_limited_total", scope="unknown") == 1


def test_a_status_outside_the_vocabulary_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        Metrics().run_finished("assistant", "done", 1.0)


async def test_openmetrics_is_served_when_asked_for(served: tuple[Metrics, MetricsServer]) -> None:
    metrics, server = served
    metrics.run_finished("assistant", "ok", 1.0)
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{server.port}/metrics", headers=headers) as response:
            assert response.content_type == "application/openmetrics-text"
            assert (await response.text()).rstrip().endswith("# EOF")


async def test_no_server_without_a_port() -> None:
    async with serving(Metrics(), {}, host="127.0.0.1", port=None) as server:
        assert server is None
    async with serving(Metrics(), {}, host="127.0.0.1", port=0) as server:
        assert server is not None and server.port > 0


# --------------------------------------------------------------- Discord 429s


class RateLimitingDiscord:
    """``GET /users/@me`` answers 429 with ``headers`` for the first ``limited``
    requests, then the bot user; on ``runner.addresses``, with discord.py's
    REST base pointed at it."""

    def __init__(self, limited: int, headers: dict[str, str]) -> None:
        self.limited = limited
        self.headers = headers
        self.requests = 0

    async def me(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.requests <= self.limited:
            body = {"message": "You are being rate limited.", "retry_after": 0.01, "global": False}
            return discord_json(body, status=429, headers=self.headers)
        return discord_json({"id": "1", "username": "executus", "discriminator": "0", "avatar": None, "bot": True})

    async def login(self, monkeypatch: pytest.MonkeyPatch, metrics: Metrics) -> dict[str, object]:
        """discord.py's own HTTPClient logs in here, with the 429 trace installed."""
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self.me)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{runner.addresses[0][1]}/api/v10")
        http = discord.http.HTTPClient(asyncio.get_running_loop(), http_trace=rate_limit_trace(metrics))
        try:
            me: dict[str, object] = await http.static_login("a-token")
            return me
        finally:
            await http.close()
            await runner.cleanup()


def discord_json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON as Discord sends it: discord.py parses a body only when the
    content type is exactly ``application/json`` (no charset)."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={**(headers or {}), "Content-Type": "application/json"}
    )


def rate_limited(metrics: Metrics) -> dict[str, float]:
    body, _ = metrics.exposition()
    return {
        s.labels["scope"]: s.value
        for f in text_string_to_metric_families(body.decode())
        if f.name == "executus_discord_rate_limited"
        for s in f.samples
        if s.name.endswith("_total")
    }


async def test_429s_are_counted_and_discord_py_still_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Discord's 429s come through its proxy (Via set) with a JSON body: discord.py waits and retries.
    fake = RateLimitingDiscord(limited=2, headers={"Via": "1.1 google", "X-RateLimit-Scope": "shared"})
    metrics = Metrics()
    me = await fake.login(monkeypatch, metrics)
    assert me["username"] == "executus"  # discord.py waited out both 429s and got through
    assert fake.requests == 3
    assert rate_limited(metrics)["shared"] == 2 and rate_limited(metrics)["user"] == 0


async def test_a_429_discord_py_gives_up_on_is_counted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 429 a REST proxy made up (no Via) is one discord.py raises on instead
    # of retrying: a log watcher on its "being rate limited" warning would miss it.
    fake = RateLimitingDiscord(limited=1, headers={"generated-by-proxy": "true"})
    metrics = Metrics()
    with pytest.raises(discord.HTTPException):
        await fake.login(monkeypatch, metrics)
    assert fake.requests == 1
    assert rate_limited(metrics)["proxy"] == 1
