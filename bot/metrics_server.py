"""The HTTP server on ``METRICS_PORT``: ``/metrics`` and ``/healthz``.

aiohttp's server, which discord.py already brings. Off unless METRICS_PORT
is set; it listens on METRICS_HOST (loopback by default, ``0.0.0.0`` in
the container image so Prometheus in another container can scrape it).

``/healthz`` answers 200 ``{"status": "ok"}`` when every check passes, else
503 ``{"status": "unhealthy", "failed": [names]}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from types import TracebackType

from aiohttp import web

from bot.health import HealthCheck, failing
from bot.metrics import Metrics


class MetricsServerError(RuntimeError):
    """The server could not listen where METRICS_HOST and METRICS_PORT say; the message says what to change."""


class MetricsServer:
    """``async with MetricsServer(metrics, checks, host, port)``; ``port=0``
    takes a free port, read back from ``.port``. ``start`` raises
    MetricsServerError when the address is taken or cannot be bound."""

    def __init__(self, metrics: Metrics, checks: Mapping[str, HealthCheck], host: str, port: int) -> None:
        self.metrics = metrics
        self.checks = checks
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        # No access log: a scrape every 15 s and a probe every 30 s would drown the bot's own lines.
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except OSError as exc:
            await self._runner.cleanup()
            raise MetricsServerError(
                f"cannot serve /metrics on {self.host}:{self.port} ({exc.strerror or exc}): "
                "set METRICS_PORT to a free port and METRICS_HOST to an address of this machine, "
                "or leave METRICS_PORT empty"
            ) from None
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> MetricsServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.exposition(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _healthz(self, request: web.Request) -> web.Response:
        failed = await failing(self.checks)
        if failed:
            return web.json_response({"status": "unhealthy", "failed": failed}, status=503)
        return web.json_response({"status": "ok"})


@contextlib.asynccontextmanager
async def serving(
    metrics: Metrics, checks: Mapping[str, HealthCheck], *, host: str, port: int | None
) -> AsyncIterator[MetricsServer | None]:
    """The server while the block runs, or None (nothing listens) when ``port`` is None."""
    if port is None:
        yield None
        return
    async with MetricsServer(metrics, checks, host, port) as server:
        yield server
