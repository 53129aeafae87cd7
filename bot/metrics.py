"""Prometheus metrics: what the host counts, as a small typed API.

The host calls :class:`Metrics` where things happen (a run ends, a model or
tool call returns, a store write commits); ``bot/metrics_server.py`` serves
the registry on ``METRICS_PORT``. Every metric has its own registry per
``Metrics`` (not prometheus-client's global one), so two bots in one
process, or two tests, never share counts.

Labels never carry content or secrets. A status must be one of
:data:`RUN_STATUSES`; an agent, model or tool name must have been declared
with :meth:`Metrics.declare`, and anything else is counted as ``other``.
Tool names come from the model, which may invent any string (a prompt
injection can make it echo a member's text as a tool name), and each new
label value is a new time series kept until restart; a declared set keeps
both content and cardinality out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.exposition import choose_encoder

from bot.store import StoredStatus
from executor.llm import Usage
from executor.llm.pricing import MICROS_PER_USD

#: Every status a run can end with (all but ``running``): the executor's, plus the host's
#: ``interrupted`` (its process died) and ``rejected`` (the budget refused it).
RUN_STATUSES: tuple[str, ...] = tuple(s.value for s in StoredStatus if s is not StoredStatus.RUNNING)

#: The label value of an undeclared agent, model or tool name.
OTHER = "other"

#: ``X-RateLimit-Scope`` values Discord documents; ``proxy`` is a 429 a REST
#: proxy made up (nirn-proxy marks those ``generated-by-proxy``).
RATE_LIMIT_SCOPES = ("user", "global", "shared", "proxy", "unknown")

# Runs take from under a second (a refusal, a short answer) to the longest
# max_runtime an agent may set; store commits are batched and sub-millisecond
# when healthy, so their buckets start far lower.
RUN_SECONDS_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
STORE_WRITE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Metrics:
    """The bot's metrics, on a registry of their own (``self.registry``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            # The standard process_* and python_* series operators' dashboards expect.
            self.registry.register(collector)
        r = self.registry
        self._runs = Counter("executus_runs", "Runs that ended, by agent and status.", ["agent", "status"], registry=r)
        self._run_seconds = Histogram(
            "executus_run_duration_seconds", "Wall time of runs that ended.", ["agent"],
            buckets=RUN_SECONDS_BUCKETS, registry=r,
        )
        self._model_calls = Counter("executus_model_calls", "Model calls that returned, by model.", ["model"], registry=r)
        self._tokens = Counter(
            "executus_model_tokens", "Tokens used by model calls, by model and type (input, output).",
            ["model", "type"], registry=r,
        )
        self._cost = Counter("executus_model_cost_usd", "Cost of priced model calls in USD, by model.", ["model"], registry=r)
        self._unpriced = Counter(
            "executus_model_calls_unpriced", "Model calls with no known price (not in the cost).", ["model"], registry=r
        )
        self._tools = Counter("executus_tool_calls", "Tool calls, by tool and outcome (ok, error).", ["tool", "outcome"], registry=r)
        self._in_flight = Gauge("executus_runs_in_flight", "Runs executing now.", registry=r)
        self._queued = Gauge("executus_runs_queued", "Runs accepted and waiting to start.", registry=r)
        self._rate_limited = Counter(
            "executus_discord_rate_limited", "Discord REST responses with status 429, by X-RateLimit-Scope.",
            ["scope"], registry=r,
        )
        self._store_write = Histogram(
            "executus_store_write_seconds", "Time to commit one batch of store writes.",
            buckets=STORE_WRITE_BUCKETS, registry=r,
        )
        self._names: dict[str, set[str]] = {"agent": set(), "model": set(), "tool": set()}
        for scope in RATE_LIMIT_SCOPES:
            self._rate_limited.labels(scope)

    def declare(self, *, agents: Iterable[str] = (), models: Iterable[str] = (), tools: Iterable[str] = ()) -> None:
        """Names the labels may carry: agent ids, model names, tool names the
        bot offers. Adds to what was declared before. Each declared agent's run
        counters start at 0 for every status, so ``rate()`` works from the first run."""
        self._names["model"].update(models)
        self._names["tool"].update(tools)
        for agent in agents:
            self._names["agent"].add(agent)
            for status in RUN_STATUSES:
                self._runs.labels(agent, status)

    def run_finished(self, agent: str, status: str, seconds: float | None) -> None:
        """A run ended. ``seconds`` is its wall time, or None when unknown
        (a run found interrupted at start-up; a refused run that never ran).

        Raises ValueError for a status outside :data:`RUN_STATUSES` (a bug in the caller).
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}; expected one of {', '.join(RUN_STATUSES)}")
        name = self._name("agent", agent)
        self._runs.labels(name, status).inc()
        if seconds is not None:
            self._run_seconds.labels(name).observe(seconds)

    def model_call(self, model: str, usage: Usage, cost_micros: int | None) -> None:
        """A model call returned. ``cost_micros`` is its cost in micro-dollars
        (``executor.llm.pricing.cost``), or None when the model has no known price."""
        name = self._name("model", model)
        self._model_calls.labels(name).inc()
        self._tokens.labels(name, "input").inc(usage.input_tokens)
        self._tokens.labels(name, "output").inc(usage.output_tokens)
        if cost_micros is None:
            self._unpriced.labels(name).inc()
        else:
            self._cost.labels(name).inc(cost_micros / MICROS_PER_USD)

    def tool_call(self, tool: str, ok: bool) -> None:
        """A tool call ended; ``ok`` is False when its result was an error."""
        self._tools.labels(self._name("tool", tool), "ok" if ok else "error").inc()

    def rest_429(self, scope: str) -> None:
        """Discord answered a REST request with 429 (``scope`` from its headers)."""
        self._rate_limited.labels(scope if scope in RATE_LIMIT_SCOPES else "unknown").inc()

    def store_write(self, seconds: float) -> None:
        """The store committed one batch of writes in ``seconds``."""
        self._store_write.observe(seconds)

    def watch_runs(self, *, in_flight: Callable[[], int], queued: Callable[[], int] | None = None) -> None:
        """Read the in-flight and queued counts from the host at each scrape,
        so the gauges never drift from what the host holds."""
        self._in_flight.set_function(in_flight)
        if queued is not None:
            self._queued.set_function(queued)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry as Prometheus text (or OpenMetrics, if ``accept`` asks for it), and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def _name(self, label: str, value: str) -> str:
        return value if value in self._names[label] else OTHER


def rate_limit_trace(metrics: Metrics) -> aiohttp.TraceConfig:
    """An aiohttp trace that counts Discord's 429s into ``metrics``.

    Pass it to the discord.py client as ``http_trace=``; discord.py puts it on
    the session it makes REST requests with. It only watches responses go by:
    discord.py still reads each 429, waits ``retry_after`` and retries, as it
    would without it. (A log handler on discord.http's "We are being rate
    limited" warnings would miss the 429s it raises on, and break when the
    wording changes.)
    """

    async def on_request_end(
        session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if params.response.status == 429:
            metrics.rest_429(_scope(params.response.headers))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


def _scope(headers: Mapping[str, str]) -> str:
    if "generated-by-proxy" in headers:
        return "proxy"
    return headers.get("X-RateLimit-Scope", "unknown").lower()
