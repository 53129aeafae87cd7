"""The composition root of the Discord bot (``python -m bot``).

It builds the HTTP client, the store, the services, the metrics server
(when METRICS_PORT is set), the background pruning (AUDIT_RETENTION_DAYS)
and the bot, and closes them in reverse order;
nothing else constructs long-lived clients. On SIGINT/SIGTERM runs in flight are cancelled
through their handles (each ends ``cancelled`` with its audit row and budget
written and a message in its thread), then the bot disconnects and the store
commits every queued write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import discord
import httpx

from bot.collector import tune_collector
from bot.config import Settings, secret
from bot.discord_host.api import DiscordAPIError, point_discord_at
from bot.discord_host.client import ExecutusBot
from bot.discord_host.health import gateway_check
from bot.health import database_check
from bot.http import http_client
from bot.metrics import Metrics, rate_limit_trace
from bot.metrics_server import MetricsServerError, serving
from bot.observer import RunObserver, declare_names
from bot.run_service import RunService
from bot.services import build_services, store_of
from bot.store import Store
from bot.tracing import Tracing, TracingUnavailable, open_tracing
from executor import NO_TRACING, Tracer

log = logging.getLogger(__name__)

MISSING_TOKEN = (
    "DISCORD_TOKEN is not set: create an application at https://discord.com/developers/applications, "
    "open Bot -> Reset Token, and put the token in .env as DISCORD_TOKEN=... (see README, 'Create the Discord application')."
)


async def run_bot(settings: Settings) -> int:
    token = secret(settings.discord_token)
    if not token:
        print(MISSING_TOKEN, file=sys.stderr)
        return 2
    try:
        tracing = open_tracing(settings.otel_exporter_otlp_endpoint)
    except TracingUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return await _serve(settings, token, tracing)
    finally:
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)  # exports the spans still queued


async def _serve(settings: Settings, token: str, tracing: Tracing | None) -> int:
    metrics = Metrics()
    store = store_of(settings, on_commit=metrics.store_write)
    async with http_client() as http, store:
        try:
            await point_discord_at(settings.discord_api_base, http)
        except DiscordAPIError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        tracer = tracing.tracer if tracing is not None else NO_TRACING
        bot = observed_bot(settings, http, store, metrics, tracer, http_trace=rate_limit_trace(metrics))
        services = bot.services
        checks = {"gateway": gateway_check(bot), "database": database_check(store)}
        tune_collector()  # everything long-lived is built
        try:
            # Leaving services.mcp stops the MCP servers, after the runs that used them.
            async with (
                services.mcp,
                serving(metrics, checks, host=settings.metrics_host, port=settings.metrics_port),
                pruning(store, settings.audit_retention_days),
                bot,
            ):
                ended = await _run_until_stopped(bot, services.runs, token)
        except MetricsServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if ended is not None:
            return ended
    log.info("stopped")
    return 0


def observed_bot(
    settings: Settings, http: httpx.AsyncClient, store: Store, metrics: Metrics, tracer: Tracer, **options: Any
) -> ExecutusBot:
    """The services and the bot, with every run, model call and tool call
    counted into ``metrics`` and traced by ``tracer`` (one RunObserver), the
    runs start-up recovery interrupted counted, and the run gauges read from
    the host. ``store`` should have been opened with ``on_commit=metrics.store_write``."""
    observer = RunObserver(metrics, settings.price_table(), tracer)
    services = build_services(settings, http, store, observer)
    declare_names(metrics, services)
    observer.recovered(store.recovery)
    bot = ExecutusBot(services, observer, **options)
    metrics.watch_runs(in_flight=lambda: services.runs.in_flight, queued=lambda: bot.runner.queued)
    return bot


@contextlib.asynccontextmanager
async def pruning(store: Store, days: int) -> AsyncIterator[None]:
    """Prune what is older than ``days`` in the background while the bot runs
    (nothing when ``days`` is 0: AUDIT_RETENTION_DAYS keeps everything)."""
    if days == 0:
        yield
        return
    task = asyncio.create_task(store.retention.keep_pruning(days), name="retention")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _run_until_stopped(bot: ExecutusBot, runs: RunService, token: str) -> int | None:
    """Run the bot until SIGINT/SIGTERM (then None, after cancelling runs in
    flight) or until it ends by itself (then its exit code)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    bot_task = asyncio.create_task(bot.start(token))
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({bot_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop_task.cancel()
    if bot_task.done():
        return _bot_ended(bot_task)
    log.info("shutting down: cancelling %d run(s)", runs.in_flight)
    await runs.shutdown()
    await bot.close()
    await asyncio.gather(bot_task, return_exceptions=True)
    return None


def _bot_ended(task: asyncio.Task[None]) -> int:
    exc = task.exception()
    if exc is None:
        return 0
    if isinstance(exc, discord.LoginFailure):
        print("error: Discord rejected DISCORD_TOKEN; reset the token in the Developer Portal and update .env.", file=sys.stderr)
    elif isinstance(exc, discord.PrivilegedIntentsRequired):
        print(
            "error: enable the Message Content intent for the bot in the Developer Portal (Bot -> Privileged Gateway Intents).",
            file=sys.stderr,
        )
    else:
        log.error("the bot stopped", exc_info=exc)
    return 1
