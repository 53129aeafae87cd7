"""A process killed with SIGKILL in the middle of writing: the database
opens (a SQLite file passes integrity_check), every run the process
reported closed is intact, and the runs it left are taken over once it
counts as gone."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

from bot.store import Store
from tests.databases import DatabaseUnderTest, SQLiteUnderTest
from tests.store_crash_child import EXECUTOR_ID, STEPS

ROOT = Path(__file__).resolve().parent.parent
#: Closed runs to wait for before the kill.
REPORTED = 40
#: A guard against a hung child, not a timing assertion.
READ_TIMEOUT = 120.0


async def test_sigkill_mid_write_keeps_every_closed_run(database: DatabaseUnderTest) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.store_crash_child",
        database.url,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    closed: list[str] = []
    try:
        while len(closed) < REPORTED:
            line = await asyncio.wait_for(child.stdout.readline(), READ_TIMEOUT)
            if not line:
                break
            closed.append(line.decode().strip())
    finally:
        child.send_signal(signal.SIGKILL)
        rest, errors = await child.communicate()
    assert child.returncode == -signal.SIGKILL, errors.decode()
    assert len(closed) == REPORTED, errors.decode()
    closed += rest.decode().split()  # printed before the kill, not read yet

    if isinstance(database, SQLiteUnderTest):
        with sqlite3.connect(database.path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []

    await asyncio.to_thread(database.wait_until_gone, EXECUTOR_ID)
    async with Store(database.url) as store:
        for run_id in closed:
            detail = await store.runs.detail(run_id)
            assert detail is not None, run_id
            assert (detail.run.status, detail.run.output, detail.run.steps) == ("ok", f"output of {run_id}", STEPS)
            assert len(detail.steps) == len(detail.tool_calls) == len(detail.events) == STEPS, run_id
        interrupted = store.recovery.interrupted_runs
    statuses = dict(database.rows("SELECT status, COUNT(*) FROM runs GROUP BY status"))
    committed = {r[0] for r in database.rows("SELECT run_id FROM budget_ledger WHERE status = 'ok'")}
    assert database.rows("SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    assert "running" not in statuses
    assert statuses.get("interrupted", 0) == interrupted
    assert set(closed) <= committed
