"""The agent-loop benchmark: executus against the OpenAI Agents SDK, Pydantic AI
and a bare loop on the official ``openai`` client.

Every framework runs the same agent against the same fake chat-completions
server (``bench.fake_openai_server``, its own process): ``tool_steps`` turns
that each call ``add(a, b)``, then a final answer, so one run is
``tool_steps + 1`` model calls. What differs is only the framework's own
work per call: building the request, the HTTP client, parsing, dispatching
the tool, and for executus also its audit trail and budget ledger (the
real ``bot.store``). executus runs four ways: on a temporary SQLite file or
on a PostgreSQL database made for the run, each with durable runs (every
model response and tool result committed before the run goes on, the
checkpoint a run resumes from after a crash) and without (RUNS_DURABLE off).

The HTTP client is held equal: executus runs on its own client, httpx over
aiohttp (``bot/http.py``), and every other framework runs on the openai
SDK's ``DefaultAioHttpClient``, httpx over aiohttp too. Each of them is
measured a second time on the SDK's default client (httpx's own transport),
the way it runs when nobody changes it; those figures are a second column
and the targets ignore them, since they compare HTTP clients as much as
frameworks.

Figures, per framework:

* ``ms_per_call``: wall time of one run / its model calls, runs one at a
  time against a 0 ms server (median and p90 over all runs of all rounds);
* ``calls_per_s``: model calls per second in steady state with
  ``concurrency`` runs in flight against a 20 ms server (median over rounds);
* ``peak_rss_mb``: the framework process's peak RSS, reached with those
  ``concurrency`` runs in flight (median over rounds).

Each framework is measured in a child process of its own, so CPU time and
memory are not shared. Each child runs on the bot's event loop (uvloop
where it installs, ``bot/event_loop.py``) and tunes its garbage collector
after its warm-up runs (``bot/collector.py``), as the bot does once it has
started: the loop and the collector are held equal, like the HTTP client.
Rounds alternate the frameworks in a rotating order, so drift on the
machine is spread over all of them.

    python bench/loop.py                   # all frameworks, both clients, default rounds
    python bench/loop.py --rounds 1 --frameworks executus openai --clients aiohttp
    python bench/loop.py --clients aiohttp --frameworks executus executus-nondurable executus-pg executus-pg-nondurable

The last line printed is one JSON object with every figure; a table for
people comes before it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openai

if __package__ in (None, ""):  # run as a script (bench/loop.py): make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    completions_served,
    fake_openai_server,
    median,
    peak_rss_mb,
    percentile,
    run_child,
    set_draining,
    table,
)
from bench.fake_openai_server import FINAL_TEXT, TOOL_NAME
from bot import event_loop
from bot.collector import tune_collector

SYSTEM_PROMPT = "You are a calculator. Use the add tool for every addition, then report."
PROMPT = "Add the numbers step by step."
ADD_DESCRIPTION = "Add two integers and return the sum."
ADD_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}

#: The PostgreSQL server the executus-pg variants make their database on.
POSTGRES_URL = os.environ.get("EXECUTUS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

RunOnce = Callable[[], Awaitable[str]]
"""One full agent run; returns the final answer."""
Framework = Callable[[str, int, str], AbstractAsyncContextManager[RunOnce]]
"""(base_url, tool_steps, client) -> a context that yields RunOnce; ``client`` is one of CLIENTS."""

AIOHTTP, DEFAULT = "aiohttp", "default"
#: The HTTP clients the frameworks other than executus run on: the openai
#: SDK's ``DefaultAioHttpClient`` (what executus's own client is made of, so
#: the frameworks are compared), and the SDK's default client.
CLIENTS = (AIOHTTP, DEFAULT)


async def add(a: int, b: int) -> int:
    """Add two integers and return the sum."""
    return a + b


# -- the frameworks --------------------------------------------------------


@contextmanager
def _database(backend: str) -> Iterator[str]:
    """The URL of an empty database for one measurement, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-loop-") as folder:
            yield f"sqlite:///{Path(folder) / 'audit.db'}"
        return
    from tests.databases import postgres_database

    with postgres_database(POSTGRES_URL, prefix="executus_bench") as db:
        yield db.url


@asynccontextmanager
async def executus(
    base_url: str, tool_steps: int, client: str, *, backend: str = "sqlite", durable: bool = True
) -> AsyncIterator[RunOnce]:
    """Executor + OpenAIChatModel, with the audit store and budget on
    ``backend`` (sqlite or postgresql), its runs ``durable`` or not.

    Always on the bot's own HTTP client (httpx over aiohttp): ``client`` can
    only be AIOHTTP, see ``clients_of``."""
    if client != AIOHTTP:
        raise ValueError(f"executus runs on its own aiohttp client only, not {client!r}")
    from bot.http import http_client
    from bot.store import Store
    from executor import Config, Executor, RunnableAgent
    from executor.llm.openai import OpenAIChatModel
    from executor.ports import Ports
    from executor.tools.base import Tool
    from executor.tools.invocation import Invocation
    from executor.tools.registry import Registry

    async def handler(_inv: Invocation, args: dict[str, Any]) -> str:
        return str(await add(args["a"], args["b"]))

    with _database(backend) as url:
        async with http_client() as http, Store(url, durable_runs=durable) as store:
            model = OpenAIChatModel(http, "bench", api_key="bench", base_url=base_url)
            executor = Executor(
                Config(
                    registry=Registry([Tool(TOOL_NAME, ADD_DESCRIPTION, handler, ADD_PARAMETERS)]),
                    models=lambda _tier: model,
                    ports=Ports(audit=store.audit, budget=store.budget),
                )
            )
            agent = RunnableAgent(
                id="bench", system_prompt=SYSTEM_PROMPT, tools=(TOOL_NAME,), max_iterations=tool_steps + 5
            )

            async def run_once() -> str:
                result = await executor.run(agent, Invocation(caller_id="bench", guild_id="bench"), PROMPT)
                if result.err is not None:
                    raise RuntimeError(f"executus run failed: {result.err!r}")
                return result.output

            yield run_once


def _http_client(client: str) -> openai.DefaultAioHttpClient | None:
    """The HTTP client to hand the SDK: openai's ``DefaultAioHttpClient`` (the
    SDK's own limits and timeouts, aiohttp underneath; the ``openai[aiohttp]``
    extra), or None for the SDK's default client."""
    if client == DEFAULT:
        return None
    import openai

    return openai.DefaultAioHttpClient()


def _openai_client(base_url: str, client: str) -> openai.AsyncOpenAI:
    """The official AsyncOpenAI client on the given HTTP client."""
    import openai

    return openai.AsyncOpenAI(base_url=base_url, api_key="bench", http_client=_http_client(client))


@asynccontextmanager
async def bare_openai(base_url: str, tool_steps: int, client: str) -> AsyncIterator[RunOnce]:
    """The floor: a hand-written loop on ``chat.completions.create``."""
    sdk = _openai_client(base_url, client)
    tools: Any = [
        {
            "type": "function",
            "function": {"name": TOOL_NAME, "description": ADD_DESCRIPTION, "parameters": ADD_PARAMETERS},
        }
    ]

    async def run_once() -> str:
        messages: list[Any] = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": PROMPT}]
        while True:
            response = await sdk.chat.completions.create(model="bench", messages=messages, tools=tools)
            message = response.choices[0].message
            if not message.tool_calls:
                return message.content or ""
            calls: list[dict[str, Any]] = []
            results: list[dict[str, Any]] = []
            for call in message.tool_calls:
                if call.type != "function":
                    raise RuntimeError(f"unexpected tool call type {call.type!r}")
                function = {"name": call.function.name, "arguments": call.function.arguments}
                calls.append({"id": call.id, "type": "function", "function": function})
                total = await add(**json.loads(call.function.arguments))
                results.append({"role": "tool", "tool_call_id": call.id, "content": str(total)})
            messages += [{"role": "assistant", "content": message.content, "tool_calls": calls}, *results]

    async with sdk:
        yield run_once


@asynccontextmanager
async def openai_agents(base_url: str, tool_steps: int, client: str) -> AsyncIterator[RunOnce]:
    """The OpenAI Agents SDK on chat completions, tracing off."""
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        RunConfig,
        Runner,
        function_tool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    sdk = _openai_client(base_url, client)
    agent = Agent(
        name="bench",
        instructions=SYSTEM_PROMPT,
        tools=[function_tool(add)],
        model=OpenAIChatCompletionsModel(model="bench", openai_client=sdk),
    )
    config = RunConfig(tracing_disabled=True)

    async def run_once() -> str:
        result = await Runner.run(agent, PROMPT, max_turns=tool_steps + 5, run_config=config)
        return str(result.final_output)

    async with sdk:
        yield run_once


@asynccontextmanager
async def pydantic_ai(base_url: str, tool_steps: int, client: str) -> AsyncIterator[RunOnce]:
    """Pydantic AI's OpenAI chat model on a provider with ``base_url``; its
    default HTTP client is Pydantic AI's own (httpx), not the SDK's."""
    from pydantic_ai import Agent, Tool
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=base_url, api_key="bench", http_client=_http_client(client))
    agent = Agent(OpenAIChatModel("bench", provider=provider), instructions=SYSTEM_PROMPT, tools=[Tool(add)])

    async def run_once() -> str:
        result = await agent.run(PROMPT)
        return str(result.output)

    async with provider.client:
        yield run_once


FRAMEWORKS: dict[str, Framework] = {
    "executus": executus,
    "executus-nondurable": functools.partial(executus, durable=False),
    "executus-pg": functools.partial(executus, backend="postgresql"),
    "executus-pg-nondurable": functools.partial(executus, backend="postgresql", durable=False),
    "openai-agents": openai_agents,
    "pydantic-ai": pydantic_ai,
    "openai": bare_openai,
}
#: The distribution each framework is installed as, for the report.
DISTRIBUTIONS = {
    **{name: "executus" for name in ("executus", "executus-nondurable", "executus-pg", "executus-pg-nondurable")},
    "openai-agents": "openai-agents", "pydantic-ai": "pydantic-ai-slim", "openai": "openai"}
#: The agent frameworks the concurrency target compares executus with.
SDKS = ("openai-agents", "pydantic-ai")


def clients_of(name: str, clients: Sequence[str]) -> list[str]:
    """The clients ``name`` is measured on: executus has only its own."""
    return [AIOHTTP] if name.startswith("executus") else list(clients)


# -- one framework, in its own process -------------------------------------


async def measure(name: str, client: str, args: argparse.Namespace) -> dict[str, Any]:
    """Both phases for one framework on one HTTP client, in this process."""
    framework = FRAMEWORKS[name]
    async with framework(args.fast_url, args.tool_steps, client) as run_once:
        ms_per_call = await sequential(name, run_once, args)
    async with framework(args.slow_url, args.tool_steps, client) as run_once:
        calls_per_s = await concurrent(name, run_once, args)
    return {
        "framework": name,
        "client": client,
        "ms_per_call": ms_per_call,
        "calls_per_s": calls_per_s,
        "peak_rss_mb": peak_rss_mb(),
    }


async def sequential(name: str, run_once: RunOnce, args: argparse.Namespace) -> list[float]:
    """Milliseconds per model call of each timed run, one run at a time.

    Also checks that the runs made exactly their scripted model calls (the
    server counts them), so no framework is timed doing less work.
    """
    calls_per_run = args.tool_steps + 1
    before = completions_served(args.fast_url)
    ms_per_call: list[float] = []
    for i in range(args.warmup + args.runs):
        if i == args.warmup:
            tune_collector()  # what the warm-up runs imported and built is long-lived too
        started = time.perf_counter()
        output = await run_once()
        elapsed = time.perf_counter() - started
        _check_output(name, output)
        if i >= args.warmup:
            ms_per_call.append(elapsed / calls_per_run * 1000)
    served = completions_served(args.fast_url) - before
    expected = (args.warmup + args.runs) * calls_per_run
    if served != expected:
        raise RuntimeError(f"{name}: the runs made {served} model calls, expected {expected}")
    return ms_per_call


async def concurrent(name: str, run_once: RunOnce, args: argparse.Namespace) -> float:
    """Model calls per second in steady state with ``concurrency`` runs in flight.

    Each of ``concurrency`` workers runs the agent again as soon as its run
    ends. After ``ramp`` seconds (every run started, every connection open)
    the server's count of answered calls is read twice, ``window`` seconds
    apart: calls are counted, not finished runs, since at ~100 calls/s one
    run of 11 calls among 200 lasts 20 s. Then the server drains: each run
    gets its final answer at its next call and ends normally (no run is
    cancelled, so every framework closes its runs the way it always does).
    """
    url = args.slow_url
    set_draining(url, False)
    _check_output(name, await run_once())  # imports and first connection, outside the timing
    tune_collector()
    stopping = False

    async def worker() -> None:
        while not stopping:
            _check_output(name, await run_once())

    workers = [asyncio.create_task(worker()) for _ in range(args.concurrency)]
    try:
        await asyncio.sleep(args.ramp)
        before, started = completions_served(url), time.perf_counter()
        await asyncio.sleep(args.window)
        served, elapsed = completions_served(url) - before, time.perf_counter() - started
    finally:
        stopping = True
        set_draining(url, True)
        outcomes = await asyncio.gather(*workers, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise RuntimeError(f"{name}: {len(failures)} concurrent runs failed") from failures[0]
    return served / elapsed


def _check_output(name: str, output: str) -> None:
    if output != FINAL_TEXT:
        raise RuntimeError(f"{name}: unexpected final answer {output!r}")


# -- the parent: servers, rounds, figures ----------------------------------


def collect(args: argparse.Namespace) -> dict[str, Any]:
    """Run every framework on every client in every round (rotating order) and aggregate."""
    names: list[str] = args.frameworks
    variants = [(n, c) for n in names for c in clients_of(n, args.clients)]
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {v: [] for v in variants}
    with (
        fake_openai_server(tool_steps=args.tool_steps, latency_ms=0) as fast_url,
        fake_openai_server(tool_steps=args.tool_steps, latency_ms=args.latency_ms) as slow_url,
    ):
        for round_no in range(args.rounds):
            shift = round_no % len(variants)
            for name, client in variants[shift:] + variants[:shift]:
                child = [
                    "bench.loop",
                    "--child",
                    name,
                    "--client",
                    client,
                    "--fast-url",
                    fast_url,
                    "--slow-url",
                    slow_url,
                    *_shared_options(args),
                ]
                sample = run_child(child)
                samples[name, client].append(sample)
                print(
                    f"round {round_no + 1}/{args.rounds} {name} ({client} client): "
                    f"{median(sample['ms_per_call']):.2f} ms/call, {sample['calls_per_s']:.0f} calls/s, "
                    f"{sample['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    figures: dict[str, dict[str, dict[str, float]]] = {n: {} for n in names}
    for (name, client), runs in samples.items():
        figures[name][client] = _aggregate(runs)
    return {
        "bench": "loop",
        "config": {
            "tool_steps": args.tool_steps,
            "model_calls_per_run": args.tool_steps + 1,
            "rounds": args.rounds,
            "sequential_runs_per_round": args.runs,
            "concurrency": args.concurrency,
            "concurrent_latency_ms": args.latency_ms,
            "concurrent_window_s": args.window,
            "clients": list(args.clients),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
        "versions": {
            **{n: metadata.version(DISTRIBUTIONS[n]) for n in names},
            "openai": metadata.version("openai"),
            "aiohttp": metadata.version("aiohttp"),
        },
        "frameworks": figures,
        "targets": _targets({n: f[AIOHTTP] for n, f in figures.items() if AIOHTTP in f}),
    }


def _aggregate(samples: list[dict[str, Any]]) -> dict[str, float]:
    per_call = [ms for s in samples for ms in s["ms_per_call"]]
    return {
        "ms_per_call_p50": round(median(per_call), 3),
        "ms_per_call_p90": round(percentile(per_call, 90), 3),
        "calls_per_s": round(median([s["calls_per_s"] for s in samples]), 1),
        "peak_rss_mb": round(median([s["peak_rss_mb"] for s in samples]), 1),
    }


def _targets(figures: dict[str, dict[str, float]]) -> dict[str, Any]:
    """executus's goals, against the others on the same (aiohttp) client: no
    slower per call than the bare client, 2.5x the SDKs' concurrent
    throughput, under 100 MB with the runs in flight."""
    ours = figures.get("executus")
    if ours is None:
        return {}
    out: dict[str, Any] = {"peak_rss_under_100mb": ours["peak_rss_mb"] < 100}
    if "openai" in figures:
        out["ms_per_call_at_most_bare_openai"] = ours["ms_per_call_p50"] <= figures["openai"]["ms_per_call_p50"]
    sdks = [figures[n]["calls_per_s"] for n in SDKS if n in figures]
    if sdks:
        out["calls_per_s_vs_best_sdk"] = round(ours["calls_per_s"] / max(sdks), 2)
        out["calls_per_s_at_least_2_5x_sdks"] = ours["calls_per_s"] >= 2.5 * max(sdks)
    # Durable runs (executus is durable on SQLite): at most 0.5 ms a model
    # call over the same runs without, and at least 1,200 calls/s.
    out["durable_sqlite_calls_per_s_at_least_1200"] = ours["calls_per_s"] >= 1200
    for durable, plain in (("executus", "executus-nondurable"), ("executus-pg", "executus-pg-nondurable")):
        if durable in figures and plain in figures:
            cost = figures[durable]["ms_per_call_p50"] - figures[plain]["ms_per_call_p50"]
            out[f"{durable}_durability_ms_per_call"] = round(cost, 3)
            out[f"{durable}_durability_at_most_0_5_ms"] = cost <= 0.5
    return out


def render(report: dict[str, Any]) -> str:
    """The human-readable table: one group of columns per HTTP client; the
    ``x`` figures in brackets are the framework's figure divided by
    executus's (above 1: slower / more calls per s / more memory)."""
    figures: dict[str, dict[str, dict[str, float]]] = report["frameworks"]
    cfg = report["config"]
    base = figures.get("executus", {}).get(AIOHTTP)
    clients = [c for c in CLIENTS if any(c in f for f in figures.values())]

    def cells(name: str, client: str) -> list[str]:
        f = figures[name].get(client)
        if f is None:
            return ["-"] * 4

        def with_ratio(key: str, fmt: str) -> str:
            ratio = f" ({f[key] / base[key]:.2f}x)" if base else ""
            return f"{f[key]:{fmt}}{ratio}"

        return [
            with_ratio("ms_per_call_p50", ".2f"),
            f"{f['ms_per_call_p90']:.2f}",
            with_ratio("calls_per_s", ".0f"),
            with_ratio("peak_rss_mb", ".0f"),
        ]

    headers = ["framework"]
    for client in clients:
        headers += [f"{client}: ms/call p50", "p90", "calls/s", "peak RSS MB"]
    rows = [[name, *(cell for c in clients for cell in cells(name, c))] for name in figures]
    heading = (
        f"agent loop: {cfg['tool_steps']} tool turns + 1 answer per run; "
        f"{cfg['concurrency']} concurrent runs at {cfg['concurrent_latency_ms']:g} ms; {cfg['rounds']} rounds\n"
        "aiohttp: executus on its own client (bot/http.py), the others on openai.DefaultAioHttpClient, "
        "both httpx over aiohttp; default: the SDK's default client (executus has no other)"
    )
    return f"{heading}\n{table(headers, rows)}\ntargets (aiohttp column): {json.dumps(report['targets'])}"


def _shared_options(args: argparse.Namespace) -> list[str]:
    return [
        "--tool-steps",
        str(args.tool_steps),
        "--runs",
        str(args.runs),
        "--warmup",
        str(args.warmup),
        "--concurrency",
        str(args.concurrency),
        "--latency-ms",
        str(args.latency_ms),
        "--ramp",
        str(args.ramp),
        "--window",
        str(args.window),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/loop.py", description=__doc__.split("\n")[0])
    parser.add_argument("--frameworks", nargs="+", choices=list(FRAMEWORKS), default=list(FRAMEWORKS))
    parser.add_argument(
        "--clients",
        nargs="+",
        choices=CLIENTS,
        default=list(CLIENTS),
        help="HTTP clients the frameworks other than executus run on (executus: always its own aiohttp one)",
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tool-steps", type=int, default=10, help="tool-call turns before the answer")
    parser.add_argument("--runs", type=int, default=20, help="timed sequential runs per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed sequential runs first")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="server latency in the concurrent phase")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds before the concurrent window opens")
    parser.add_argument("--window", type=float, default=4.0, help="seconds the concurrent phase is measured")
    parser.add_argument("--child", choices=list(FRAMEWORKS), help=argparse.SUPPRESS)
    parser.add_argument("--client", choices=CLIENTS, default=AIOHTTP, help=argparse.SUPPRESS)
    parser.add_argument("--fast-url", help=argparse.SUPPRESS)
    parser.add_argument("--slow-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(event_loop.run(measure(args.child, args.client, args))))
        return
    report = collect(args)
    print(render(report))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
