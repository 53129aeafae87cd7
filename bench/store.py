"""Audit write throughput of the store, and what it costs the event loop,
on SQLite and on PostgreSQL side by side.

RUNS concurrent fake runs write into a fresh database, each STEPS steps
(one ``on_step`` and one ``on_tool`` each) as fast as it can, yielding to the
loop between steps, then closing (durably). A ticker task sleeps 1 ms at a
time meanwhile and records how late it wakes: the event-loop lag a Discord
heartbeat would see. The same runs against a recorder that writes nothing
give the baseline: the lag the fake runs cause by themselves.

The SQLite database is a file in a temporary folder. The PostgreSQL one is
created for the run on the server at --postgres-url and dropped afterwards;
when that server does not answer, its column says why it is missing.

Prints one JSON line ({"sqlite": {...}, "postgresql": {...}}), then a table.

    .venv/bin/python bench/store.py [--runs 32] [--steps 500] [--postgres-url URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store import Limit, LimitChange, Store  # noqa: E402
from bot.store.opening import scrubbed  # noqa: E402
from bot.store.url import redacted  # noqa: E402
from tests.databases import postgres_database  # noqa: E402
from executor.llm.types import AssistantMessage, ToolCall, Usage  # noqa: E402
from executor.ports import RunInfo, RunRecorder, RunStats  # noqa: E402
from executor.record import NO_CONTEXT, StepContext  # noqa: E402
from executor.tools.base import ToolResult  # noqa: E402
from executor.tools.invocation import Invocation  # noqa: E402

TICK = 0.001
CHECKS = 200
POSTGRES_URL = os.environ.get("EXECUTUS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

StartRun = Callable[[RunInfo], Awaitable[RunRecorder]]


class NullRecorder:
    """Records nothing: the baseline."""

    async def on_step(
        self, index: int, response: AssistantMessage, usage: Usage, *, context: StepContext = NO_CONTEXT
    ) -> None:
        pass

    async def on_tool(self, index: int, call: ToolCall, result: ToolResult, *, elapsed: float = 0.0) -> None:
        pass

    async def log_event(self, kind: str, data: dict[str, Any]) -> None:
        pass

    async def close(self, stats: RunStats) -> None:
        pass


async def start_null(info: RunInfo) -> RunRecorder:
    return NullRecorder()


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``values``, in milliseconds."""
    if len(values) < 2:
        return values[0] * 1000, values[0] * 1000
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[49] * 1000, 3), round(cuts[98] * 1000, 3)


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - start - TICK)


async def one_run(start_run: StartRun, run_id: str, steps: int, closes: list[float]) -> None:
    info = RunInfo(run_id, "bench", "Bench", "u1", "g1", "c1", "", "benchmark", {}, datetime.now(UTC), steps, "fast", "m")
    recorder = await start_run(info)
    for step in range(steps):
        call = ToolCall(f"{run_id}-{step}", "fetch_url", '{"url": "https://example.com/page"}')
        await recorder.on_step(step, AssistantMessage("looking it up", (call,)), Usage(1200, 80))
        await recorder.on_tool(step, call, ToolResult("x" * 1500))
        await asyncio.sleep(0)  # a real run awaits its model between steps
    started = time.perf_counter()
    await recorder.close(RunStats("ok", "done", "", steps, 1.0, Usage(1200 * steps, 80 * steps), False, steps))
    closes.append(time.perf_counter() - started)


async def drive(start_run: StartRun, runs: int, steps: int) -> tuple[float, list[float], list[float]]:
    """Seconds for all runs to close, ticker lags, close latencies."""
    lags: list[float] = []
    closes: list[float] = []
    stop = asyncio.Event()
    tick_task = asyncio.create_task(ticker(lags, stop))
    started = time.perf_counter()
    await asyncio.gather(*(one_run(start_run, f"run{n}", steps, closes) for n in range(runs)))
    elapsed = time.perf_counter() - started
    stop.set()
    await tick_task
    return elapsed, lags, closes


async def budget_checks(store: Store, count: int) -> float:
    """Seconds for ``count`` budget check-and-reserves started at once (20
    members under a guild default with every limit set, so every check reads
    the ledger), as when many runs start together."""
    await store.budget.set_limits(
        "g",
        None,
        [LimitChange(Limit.RUNS, 10**6), LimitChange(Limit.TOKENS, 10**12), LimitChange(Limit.CONCURRENT, 10**6)],
    )
    started = time.perf_counter()
    await asyncio.gather(*(store.budget.check(Invocation(f"m{i % 20}", guild_id="g"), "bench") for i in range(count)))
    return time.perf_counter() - started


async def measure(database_url: str, runs: int, steps: int, base_lags: list[float]) -> dict[str, float]:
    async with Store(database_url) as store:
        elapsed, lags, closes = await drive(store.audit.start_run, runs, steps)
        check_seconds = await budget_checks(store, CHECKS)
    lag_p50, lag_p99 = percentiles(lags)
    base_p50, base_p99 = percentiles(base_lags)
    close_p50, close_p99 = percentiles(closes)
    return {
        "runs": runs,
        "steps_per_run": steps,
        "seconds": round(elapsed, 3),
        "step_writes_per_second": round(runs * steps / elapsed),
        "audit_rows_per_second": round(runs * steps * 2 / elapsed),
        "loop_lag_p50_ms": lag_p50,
        "loop_lag_p99_ms": lag_p99,
        "baseline_loop_lag_p50_ms": base_p50,
        "baseline_loop_lag_p99_ms": base_p99,
        "close_p50_ms": close_p50,
        "close_p99_ms": close_p99,
        "budget_checks_at_once": CHECKS,
        "budget_check_ms_each": round(check_seconds * 1000 / CHECKS, 3),
        "budget_checks_all_done_ms": round(check_seconds * 1000, 1),
    }


async def measure_both(runs: int, steps: int, postgres_url: str | None) -> dict[str, dict[str, Any]]:
    _, base_lags, _ = await drive(start_null, runs, steps)
    with tempfile.TemporaryDirectory() as folder:
        figures: dict[str, dict[str, Any]] = {
            "sqlite": await measure(f"sqlite:///{Path(folder) / 'bench.db'}", runs, steps, base_lags)
        }
    if postgres_url is None:
        figures["postgresql"] = {"skipped": "--no-postgres"}
        return figures
    try:
        import psycopg
    except ImportError:
        figures["postgresql"] = {"skipped": "psycopg is not installed (pip install -e '.[postgres]')"}
        return figures
    try:
        with postgres_database(postgres_url, prefix="executus_bench") as db:
            figures["postgresql"] = await measure(db.url, runs, steps, base_lags)
    except psycopg.OperationalError as exc:  # no server there: the SQLite figures stand alone
        reason = " ".join(scrubbed(str(exc), postgres_url).split())
        figures["postgresql"] = {"skipped": f"{redacted(postgres_url)}: {reason}"}
    return figures


ROWS = (
    ("step writes / s", "step_writes_per_second", "{:,}"),
    ("audit rows / s (step + tool call)", "audit_rows_per_second", "{:,}"),
    ("loop lag p50 / p99 (ms)", ("loop_lag_p50_ms", "loop_lag_p99_ms"), "{:.3f} / {:.3f}"),
    ("  same runs, no store", ("baseline_loop_lag_p50_ms", "baseline_loop_lag_p99_ms"), "{:.3f} / {:.3f}"),
    ("run close p50 / p99 (ms)", ("close_p50_ms", "close_p99_ms"), "{:.3f} / {:.3f}"),
    (f"{CHECKS} budget checks at once (ms)", "budget_checks_all_done_ms", "{:.1f}"),
)


def cell(figures: dict[str, Any], keys: str | tuple[str, ...], style: str) -> str:
    if "skipped" in figures:
        return "-"
    return style.format(*(figures[k] for k in ((keys,) if isinstance(keys, str) else keys)))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=32, help="concurrent runs")
    parser.add_argument("--steps", type=int, default=500, help="steps per run")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server to create the PostgreSQL database on")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    r = asyncio.run(measure_both(args.runs, args.steps, None if args.no_postgres else args.postgres_url))
    print(json.dumps(r))
    sqlite, postgres = r["sqlite"], r["postgresql"]
    print(f"{args.runs} runs x {args.steps} steps; all closed in {sqlite['seconds']:.2f} s on SQLite", end="")
    print(f", {postgres['seconds']:.2f} s on PostgreSQL" if "seconds" in postgres else "")
    print(f"  {'':<36}{'SQLite':>18}{'PostgreSQL':>18}")
    for label, keys, style in ROWS:
        print(f"  {label:<36}{cell(sqlite, keys, style):>18}{cell(postgres, keys, style):>18}")
    if "skipped" in postgres:
        print(f"  PostgreSQL skipped: {postgres['skipped']}")


if __name__ == "__main__":
    main()
