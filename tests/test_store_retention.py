"""Retention on SQLite and PostgreSQL: what is older than AUDIT_RETENTION_DAYS
goes, in small batches; running runs, active conversations and the ledger
rows of budget periods in force stay. Also ``python -m bot prune`` and the
bot's background pruning."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.discord_host.app import pruning
from bot.store import AgentThread, Period, Store
from executor.llm.types import AssistantMessage, ToolCall, Usage, UserMessage
from executor.ports import Spend
from executor.tools.base import ToolResult
from executor.tools.invocation import Invocation
from tests.databases import DatabaseUnderTest
from tests.store_helpers import FakeClock, run_info, stats

ROOT = Path(__file__).resolve().parent.parent
#: "Now" in these tests: a Wednesday, so the week began on the 4th (in the month) and the month on the 1st.
NOW = datetime(2025, 6, 11, 12, 0, tzinfo=UTC)
OLD = datetime(2025, 2, 1, 12, 0, tzinfo=UTC)  # 130 days before NOW
SOON = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)  # 41 days before NOW: inside 90 days, before this month


async def a_run(store: Store, run_id: str, *, close: bool = True) -> None:
    """A run with a step, a tool call and an event, closed unless ``close`` is False."""
    rec = await store.audit.start_run(run_info(run_id, started_at=store.clock()))
    await rec.on_step(0, AssistantMessage("", (ToolCall("a", "echo"),)), Usage(10, 5))
    await rec.on_tool(0, ToolCall("a", "echo"), ToolResult("ok"))
    await rec.log_event("compaction_fired", {"before": 10})
    if close:
        await rec.close(stats())


async def a_ledger_row(store: Store, run_id: str) -> None:
    """A run's budget records: its reservation, one model call's record, its ledger row."""
    invocation = Invocation("u1", run_id=run_id, guild_id="g1")
    await store.budget.check(invocation, "helper")
    await store.calls.settle_call(await store.calls.reserve_call(invocation, "m", 100), 60)
    await store.budget.commit(invocation, Spend(1.0, Usage(10, 5), "ok"))


async def test_prune_deletes_what_is_older_in_batches_and_keeps_the_rest(database: DatabaseUnderTest) -> None:
    clock = FakeClock(OLD)
    async with Store(database.url, clock=clock) as store:
        for i in range(5):
            await a_run(store, f"old-{i}")
            await a_ledger_row(store, f"old-{i}")
        await a_run(store, "old-running", close=False)  # still going (its process is alive): never pruned
        await store.conversations.append("idle-thread", [UserMessage("hello from February")], "old-0")
        await store.conversations.append("console-old", [UserMessage("a console session")], "old-1")
        await store.conversations.append("busy-thread", [UserMessage("an old turn")], "old-2")
        await store.threads.set(AgentThread("busy-thread", "g1", "c1", "helper", "u1"))
        clock.now = SOON
        await a_ledger_row(store, "soon-0")  # inside 90 days
        clock.now = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # this month, before this week
        await a_run(store, "recent")
        await a_ledger_row(store, "recent")
        clock.now = NOW
        await store.threads.set(AgentThread("busy-thread", "g1", "c1", "helper", "u1"))  # active again now
        await store.conversations.append("busy-thread", [UserMessage("a new turn")], "recent")
        for period_start in ("2025-02-01", "2025-06-01"):  # warnings given in February and this month
            database.rows(
                "INSERT INTO budget_warnings (guild_id, member_id, limit_key, period_start, warned_at)"
                " VALUES ('g1', 'u1', 'usd', ?, ?)",
                f"{period_start}T00:00:00.000000+00:00", f"{period_start}T09:00:00.000000+00:00",
            )

        pruned = await store.retention.prune(90, batch=2)
        assert (pruned.runs, pruned.threads, pruned.ledger_rows, pruned.calls) == (5, 2, 5, 5)
        assert not await store.retention.prune(90, batch=2)  # nothing left: idempotent

        runs = {r[0] for r in database.rows("SELECT run_id FROM runs")}
        assert runs == {"old-running", "recent"}
        for table in ("steps", "tool_calls", "events"):
            assert {r[0] for r in database.rows(f"SELECT DISTINCT run_id FROM {table}")} == runs, table
        threads = {r[0] for r in database.rows("SELECT DISTINCT thread_id FROM conversation_messages")}
        assert threads == {"busy-thread"}
        assert len(database.rows("SELECT seq FROM conversation_messages WHERE thread_id = 'busy-thread'")) == 2
        ledger = {r[0] for r in database.rows("SELECT run_id FROM budget_ledger")}
        assert ledger == {"soon-0", "recent"}
        assert {r[0] for r in database.rows("SELECT run_id FROM budget_calls")} == ledger
        assert [r[0][:7] for r in database.rows("SELECT period_start FROM budget_warnings")] == ["2025-06"]

        # A week's retention still keeps the ledger rows this month's budgets count.
        pruned = await store.retention.prune(7)
        assert (pruned.runs, pruned.ledger_rows, pruned.calls) == (1, 1, 1)
        assert {r[0] for r in database.rows("SELECT run_id FROM budget_ledger")} == {"recent"}
        usage = await store.budget.usage("g1", "u1")
        assert usage.periods[Period.MONTH].spent.runs == 1  # the month's run is still counted


async def test_the_bot_prunes_in_the_background_while_runs_are_written(database: DatabaseUnderTest) -> None:
    clock = FakeClock(OLD)
    async with Store(database.url, clock=clock) as store:
        for i in range(3):
            await a_run(store, f"old-{i}")
        clock.now = NOW
        async with pruning(store, 90):
            await a_run(store, "during")  # a run's writes go through while pruning runs
            for _ in range(200):
                if database.rows("SELECT COUNT(*) FROM runs") == [(1,)]:
                    break
                await asyncio.sleep(0.05)
        assert {r[0] for r in database.rows("SELECT run_id FROM runs")} == {"during"}


def test_python_m_bot_prune(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"

    async def fill() -> None:
        async with Store(url, clock=FakeClock(OLD)) as store:
            await a_run(store, "old")

    asyncio.run(fill())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "AUDIT_"))}

    def prune(days: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "prune"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env=env | {"DATABASE_URL": url, "AUDIT_RETENTION_DAYS": days, "PYTHONPATH": str(ROOT)},
        )

    kept = prune("0")
    assert (kept.returncode, kept.stdout.strip()) == (0, "AUDIT_RETENTION_DAYS is 0: everything is kept, nothing was pruned")
    done = prune("30")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "pruned 1 runs, 0 thread conversations, 0 budget ledger rows and 0 model call records older than 30 days"
    )
