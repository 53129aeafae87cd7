"""Budgets stay atomic across processes: one member's check-and-reserve is
serialised wherever it runs (BEGIN IMMEDIATE on SQLite, an advisory lock on
the member on PostgreSQL), and on PostgreSQL other members are not held up."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.store import Limit, LimitChange, Store
from bot.store.budget import member_key
from executor.tools.invocation import Invocation
from tests.databases import DatabaseUnderTest
from tests.store_budget_child import NOW

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 4
CHECKS_EACH = 25
RUNS_LIMIT = 10
#: Guards against a hung child or check, not timing assertions.
TIMEOUT = 120.0


async def test_four_processes_of_concurrent_checks_admit_exactly_the_runs_limit(database: DatabaseUnderTest) -> None:
    async with Store(database.url, clock=lambda: NOW) as admin:
        await admin.budget.set_limits("g1", "u1", [LimitChange(Limit.named("runs"), RUNS_LIMIT)])
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.store_budget_child", database.url, f"p{n}", str(CHECKS_EACH),
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for n in range(PROCESSES)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stderr is not None
            line = await asyncio.wait_for(child.stdout.readline(), TIMEOUT)
            assert line == b"ready\n", (line + await child.stderr.read()).decode()
        for child in children:  # all at once: every process has its store open by now
            assert child.stdin is not None
            child.stdin.write(b"go\n")
        outputs = await asyncio.wait_for(asyncio.gather(*(c.communicate() for c in children)), TIMEOUT)
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    assert [c.returncode for c in children] == [0] * PROCESSES, [err.decode() for _, err in outputs]
    admitted = [run for out, _ in outputs for run in out.decode().split()[1:]]
    assert len(admitted) == RUNS_LIMIT, admitted
    assert sorted(r[0] for r in database.rows("SELECT run_id FROM budget_reservations")) == sorted(admitted)


async def test_one_members_checks_wait_for_their_lock_and_other_members_do_not(
    postgresql_database: DatabaseUnderTest,
) -> None:
    import psycopg

    from bot.store.postgres import LOCK_SPACE

    db = postgresql_database
    async with Store(db.url) as store:
        async with await psycopg.AsyncConnection.connect(db.url) as holder:
            # Another process in the middle of u1's check-and-reserve.
            await holder.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_SPACE, member_key("g1", "u1")))
            waiting = asyncio.create_task(store.budget.check(Invocation("u1", run_id="u1-run", guild_id="g1"), "a"))
            await asyncio.to_thread(
                db.wait_until, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
            )
            await asyncio.wait_for(store.budget.check(Invocation("u2", run_id="u2-run", guild_id="g1"), "a"), TIMEOUT)
            await store.budget.check(Invocation("u1", run_id="u1-elsewhere", guild_id="g2"), "a")  # another guild
            assert not waiting.done()
            await holder.commit()  # releases the lock
        await asyncio.wait_for(waiting, TIMEOUT)
    assert sorted(r[0] for r in db.rows("SELECT run_id FROM budget_reservations")) == [
        "u1-elsewhere",
        "u1-run",
        "u2-run",
    ]
