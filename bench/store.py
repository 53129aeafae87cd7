"""Audit write throughput of the store, and what it costs the event loop.

RUNS concurrent fake runs write into a fresh database file, each STEPS steps
(one ``on_step`` and one ``on_tool`` each) as fast as it can, yielding to the
loop between steps, then closing (durably). A ticker task sleeps 1 ms at a
time meanwhile and records how late it wakes: the event-loop lag a Discord
heartbeat would see. The same runs against a recorder that writes nothing
give the baseline: the lag the fake runs cause by themselves.

Prints one JSON line, then a short table.

    .venv/bin/python bench/store.py [--runs 32] [--steps 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from executor.llm.types import AssistantMessage, ToolCall, Usage  # noqa: E402
from executor.ports import RunInfo, RunRecorder, RunStats  # noqa: E402
from executor.tools.base import ToolResult  # noqa: E402
from executor.tools.invocation import Invocation  # noqa: E402

TICK = 0.001

StartRun = Callable[[RunInfo], Awaitable[RunRecorder]]


class NullRecorder:
    """Records nothing: the baseline."""

    async def on_step(self, index: int, response: AssistantMessage, usage: Usage) -> None:
        pass

    async def on_tool(self, index: int, call: ToolCall, result: ToolResult) -> None:
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


async def measure(runs: int, steps: int) -> dict[str, float]:
    _, base_lags, _ = await drive(start_null, runs, steps)
    with tempfile.TemporaryDirectory() as folder:
        async with Store(f"sqlite:///{Path(folder) / 'bench.db'}") as store:
            elapsed, lags, closes = await drive(store.audit.start_run, runs, steps)
            checks = 200
            check_seconds = await budget_checks(store, checks)
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
        "budget_checks_at_once": checks,
        "budget_check_ms_each": round(check_seconds * 1000 / checks, 3),
        "budget_checks_all_done_ms": round(check_seconds * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=32, help="concurrent runs")
    parser.add_argument("--steps", type=int, default=500, help="steps per run")
    args = parser.parse_args()
    r = asyncio.run(measure(args.runs, args.steps))
    print(json.dumps(r))
    print(f"{args.runs} runs x {args.steps} steps, all closed in {r['seconds']:.2f} s")
    print(f"  {'step writes / s':<34}{r['step_writes_per_second']:>10,}")
    print(f"  {'audit rows / s (step + tool call)':<34}{r['audit_rows_per_second']:>10,}")
    print(f"  {'loop lag p50 / p99 (ms)':<34}{r['loop_lag_p50_ms']:>10.3f} / {r['loop_lag_p99_ms']:.3f}")
    print(f"  {'  same runs, no store':<34}{r['baseline_loop_lag_p50_ms']:>10.3f} / {r['baseline_loop_lag_p99_ms']:.3f}")
    print(f"  {'run close p50 / p99 (ms)':<34}{r['close_p50_ms']:>10.3f} / {r['close_p99_ms']:.3f}")
    print(f"  {'200 budget checks at once (ms)':<34}{r['budget_checks_all_done_ms']:>10.1f}")


if __name__ == "__main__":
    main()
