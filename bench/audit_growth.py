"""How many bytes a run adds to the database, and whether retention bounds it,
on SQLite and on PostgreSQL.

Each run is one typical run's records, written through the real store: the
run row (a 120-character prompt, a 600-character answer), two steps, one
tool call (a 2,000-character fetched page as its result), one event, a budget
reservation and its ledger row, the two model calls' budget records, and
the four conversation messages the thread keeps (prompt, tool call, tool
result, answer).

1. RUNS runs are written; the growth of the database divided by RUNS is the
   bytes per run.
2. The clock moves past AUDIT_RETENTION_DAYS and ``store.retention.prune``
   deletes them all (the time it takes is printed); PostgreSQL then gets a
   plain VACUUM, as autovacuum would do.
3. RUNS more runs are written: the database should grow by much less than
   in step 1, as the new rows reuse the space the pruned ones left.

SQLite is measured as its file plus WAL after a checkpoint; PostgreSQL as
``pg_database_size`` of a database created for the run and dropped after.

    .venv/bin/python bench/audit_growth.py [--runs 1000] [--postgres-url URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.store import Store  # noqa: E402
from tests.databases import postgres_database  # noqa: E402
from executor.llm.types import AssistantMessage, ToolCall, ToolResultMessage, Usage, UserMessage  # noqa: E402
from executor.ports import RunInfo, RunStats, Spend  # noqa: E402
from executor.tools.base import ToolResult  # noqa: E402
from executor.tools.invocation import Invocation  # noqa: E402

POSTGRES_URL = os.environ.get("EXECUTUS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RETENTION_DAYS = 90
ARGS = '{"url": "https://example.org/releases/4.2"}'
_WORDS = (
    "the a plugin hook context release change author signature object deprecated api version call returns "
    "event handler config file server member thread answer page link notes update support removed added"
).split()


def prose(chars: int, seed: int) -> str:
    """Text of ``chars`` characters in random words: compresses about as well
    as real prose (PostgreSQL compresses long values; a repeated sentence
    would shrink far more than real text does)."""
    rng = random.Random(seed)
    text = ""
    while len(text) < chars:
        text += rng.choice(_WORDS) + rng.choice((" ", " ", " ", ", ", ". "))
    return text[:chars]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def one_run(store: Store, clock: Clock, n: int, round_: int) -> None:
    run_id = f"r{round_}-{n:06d}"
    prompt, page, answer = prose(120, n), prose(2000, n + 1), prose(600, n + 2)
    info = RunInfo(
        run_id=run_id, agent_id="assistant", agent_name="Assistant", caller_id="210987654321098765",
        guild_id="123456789012345678", channel_id=f"9{n:017d}", parent_run_id="", input=prompt, inputs={},
        started_at=clock(), max_iterations=12, tier="fast", model="openai/gpt-4o-mini",
    )
    invocation = Invocation(info.caller_id, run_id=run_id, guild_id=info.guild_id)
    await store.budget.check(invocation, info.agent_id)
    rec = await store.audit.start_run(info)
    for _ in range(2):  # each model call's budget record: held, then settled
        await store.calls.settle_call(await store.calls.reserve_call(invocation, "gpt-4o-mini", 5000), 3000)
    call = ToolCall(f"call_{n:06d}", "fetch_url", ARGS)
    await rec.on_step(0, AssistantMessage("", (call,)), Usage(900, 40))
    await rec.on_tool(0, call, ToolResult(page))
    await rec.log_event("compaction_fired", {"before": 12, "after": 4})
    await rec.on_step(1, AssistantMessage(answer), Usage(1500, 200))
    usage = Usage(2400, 240)
    await rec.close(RunStats("ok", answer, "", 1, 4.2, usage, False, 2))
    await store.budget.commit(invocation, Spend(4.2, usage, "ok"))
    turns = [UserMessage(prompt), AssistantMessage("", (call,)), ToolResultMessage(call.id, call.name, page), AssistantMessage(answer)]
    await store.conversations.append(info.channel_id, turns, run_id)


async def write_runs(url: str, clock: Clock, runs: int, round_: int) -> None:
    async with Store(url, clock=clock) as store:
        for n in range(runs):
            await one_run(store, clock, n, round_)


async def prune(url: str, clock: Clock) -> tuple[float, int]:
    clock.now += timedelta(days=RETENTION_DAYS + 40)  # past the retention and every budget period
    async with Store(url, clock=clock) as store:
        started = time.perf_counter()
        pruned = await store.retention.prune(RETENTION_DAYS)
        return time.perf_counter() - started, pruned.runs


async def measure(url: str, size: Callable[[], int], vacuum: Callable[[], None], runs: int) -> dict[str, Any]:
    clock = Clock()
    async with Store(url, clock=clock):
        pass  # the schema, so the empty size is the baseline
    empty = size()
    started = time.perf_counter()
    await write_runs(url, clock, runs, 1)
    write_seconds = time.perf_counter() - started
    full = size()
    prune_seconds, pruned = await prune(url, clock)
    vacuum()
    await write_runs(url, clock, runs, 2)
    again = size()
    return {
        "runs": runs,
        "bytes_per_run": round((full - empty) / runs),
        "runs_per_second": round(runs / write_seconds),
        "pruned_runs": pruned,
        "prune_seconds": round(prune_seconds, 2),
        "bytes_per_run_after_prune": round((again - full) / runs),
        "size_mb": round(again / 1e6, 2),
    }


def sqlite_size(path: Path) -> Callable[[], int]:
    def size() -> int:
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = path.with_name(path.name + "-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    return size


async def measure_both(runs: int, postgres_url: str | None) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "growth.db"
        figures["sqlite"] = await measure(f"sqlite:///{path}", sqlite_size(path), lambda: None, runs)
    if postgres_url is None:
        figures["postgresql"] = {"skipped": "--no-postgres"}
        return figures
    import psycopg

    try:
        with postgres_database(postgres_url, prefix="executus_bench") as db:

            def pg_size() -> int:
                with psycopg.connect(db.url) as conn:
                    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
                return int(row[0]) if row else 0

            def vacuum() -> None:
                with psycopg.connect(db.url, autocommit=True) as conn:
                    conn.execute("VACUUM")

            figures["postgresql"] = await measure(db.url, pg_size, vacuum, runs)
    except psycopg.Error as exc:
        figures["postgresql"] = {"skipped": f"server unusable: {type(exc).__name__}"}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(measure_both(args.runs, None if args.no_postgres else args.postgres_url))
    print(f"{'':12} {'bytes/run':>10} {'runs/s':>8} {'prune s':>8} {'bytes/run after prune':>22} {'size MB':>8}")
    for name, f in figures.items():
        if "skipped" in f:
            print(f"{name:12} skipped: {f['skipped']}")
            continue
        print(
            f"{name:12} {f['bytes_per_run']:>10} {f['runs_per_second']:>8} {f['prune_seconds']:>8}"
            f" {f['bytes_per_run_after_prune']:>22} {f['size_mb']:>8}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
