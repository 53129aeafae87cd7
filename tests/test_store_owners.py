"""Several processes on one database: start-up recovery takes over only the
runs of processes that are gone (a free lock file on SQLite, an expired
lease on PostgreSQL), and a thread message is claimed by exactly one of them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.store import AgentThread, Store, StoreOpenError
from bot.store import leases as leases_module
from bot.store import owners as owners_module
from executor.llm.types import AssistantMessage, Usage
from executor.tools.invocation import Invocation
from tests.databases import DatabaseUnderTest, one
from tests.store_helpers import run_info, stats, url

ROOT = Path(__file__).resolve().parent.parent
#: A guard against a hung child, not a timing assertion.
READY_TIMEOUT = 60.0


def status_and_reservation(database: DatabaseUnderTest, run_id: str) -> tuple[str, bool, str | None]:
    """The run's status, whether it still holds a reservation, and its ledger status."""
    (status,) = one(database, "SELECT status FROM runs WHERE run_id = ?", run_id)
    reserved = database.rows("SELECT 1 FROM budget_reservations WHERE run_id = ?", run_id)
    ledger = database.rows("SELECT status FROM budget_ledger WHERE run_id = ?", run_id)
    return status, bool(reserved), ledger[0][0] if ledger else None


def owner_marks(database: DatabaseUnderTest, tmp_path: Path) -> set[str]:
    """The owners the database shows as holding their id: lock files on
    SQLite, leases on PostgreSQL."""
    if database.backend == "sqlite":
        return {p.stem for p in (tmp_path / "executus.db.owners").glob("*.lock")}
    return {r[0] for r in database.rows("SELECT owner_id FROM owner_leases")}


@asynccontextmanager
async def child_with_live_run(
    database: DatabaseUnderTest, run_id: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """A separate process (tests/store_owner_child.py) holding ``run_id``
    live, and its EXECUTOR_ID."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.store_owner_child", database.url, run_id,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), READY_TIMEOUT)
        if not line.startswith(b"ready"):
            raise AssertionError((line + await child.stderr.read()).decode())
        yield child, line.split()[1].decode()
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()


async def test_a_live_run_in_another_process_survives_its_recovery_until_that_process_dies(
    database: DatabaseUnderTest,
) -> None:
    async with child_with_live_run(database, "live") as (child, child_id):
        async with Store(database.url) as first:
            await first.budget.check(Invocation("u1", run_id="dead", guild_id="g1"), "helper")
            await first.audit.start_run(run_info("dead"))
            # This store closes with "dead" still running: its process is gone.
        # Another process (the bot, say) starts next to the console's live run.
        async with Store(database.url) as bot:
            assert (bot.recovery.interrupted_runs, bot.recovery.released_reservations) == (1, 1)
        assert status_and_reservation(database, "dead") == ("interrupted", False, "interrupted")
        assert status_and_reservation(database, "live") == ("running", True, None)
        child.send_signal(signal.SIGKILL)
        await child.wait()
    await asyncio.to_thread(database.wait_until_gone, child_id)
    async with Store(database.url) as next_start:
        assert (next_start.recovery.interrupted_runs, next_start.recovery.released_reservations) == (1, 1)
        detail = await next_start.runs.detail("live")
    assert status_and_reservation(database, "live") == ("interrupted", False, "interrupted")
    assert detail is not None and detail.run.usage == Usage(10, 2)  # what its rows show is charged


async def test_the_store_opened_first_leaves_a_later_process_alone_too(database: DatabaseUnderTest) -> None:
    """Order does not matter: the old "first opener owns the database" rule
    made the bot, started first, recover nothing and a later one everything."""
    async with Store(database.url) as bot:
        mine = await bot.audit.start_run(run_info("bot-run"))
        async with child_with_live_run(database, "console-run") as (child, _):
            async with Store(database.url) as third:
                assert third.recovery.interrupted_runs == 0
            assert status_and_reservation(database, "console-run")[:2] == ("running", True)
            assert child.stdin is not None
            child.stdin.close()  # a clean exit, still leaving its run running
            await child.wait()
        async with Store(database.url) as fourth:
            assert fourth.recovery.interrupted_runs == 1
        await mine.close(stats())
    assert status_and_reservation(database, "bot-run")[0] == "ok"
    assert status_and_reservation(database, "console-run")[0] == "interrupted"


async def test_rows_record_their_owner_and_a_stable_id_recovers_its_own_previous_runs(
    database: DatabaseUnderTest, tmp_path: Path
) -> None:
    async with Store(database.url, executor_id="bot-1") as store:
        await store.budget.check(Invocation("u1", run_id="r1", guild_id="g1"), "helper")
        await store.audit.start_run(run_info("r1"))
        assert database.rows("SELECT owner_id FROM runs") == [("bot-1",)]
        assert database.rows("SELECT owner_id FROM budget_reservations") == [("bot-1",)]
        assert owner_marks(database, tmp_path) == {"bot-1"}
    assert owner_marks(database, tmp_path) == set()  # given up on a clean close
    # A deployment restarts the process under the same EXECUTOR_ID.
    async with Store(database.url, executor_id="bot-1") as store:
        assert (store.recovery.interrupted_runs, store.recovery.owners) == (1, frozenset({"bot-1"}))


async def test_two_live_processes_cannot_share_an_executor_id(
    database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(owners_module, "OWN_LOCK_WAIT", 0.2)
    monkeypatch.setattr(leases_module, "LEASE_SECONDS", 3.0)  # the second waits out one lease, then gives up
    monkeypatch.setattr(leases_module, "HOLD_GRACE", 0.0)
    async with Store(database.url, executor_id="bot-1"):
        with pytest.raises(StoreOpenError, match="EXECUTOR_ID 'bot-1' is in use by another process"):
            await Store.open(database.url, executor_id="bot-1")
    with pytest.raises(ValueError, match="EXECUTOR_ID: '../x' must be"):
        Store(database.url, executor_id="../x")


async def test_a_gone_owners_lock_file_is_cleaned_up_and_a_live_ones_kept(tmp_path: Path) -> None:
    folder = tmp_path / "executus.db.owners"
    folder.mkdir()
    (folder / "crashed-1.lock").touch()  # a process that died owning no run
    async with Store(url(tmp_path), executor_id="alive") as alive:
        async with Store(url(tmp_path)) as other:
            assert sorted(p.name for p in folder.iterdir()) == sorted(["alive.lock", f"{other.executor_id}.lock"])
        assert alive.recovery.interrupted_runs == 0


async def test_an_expired_lease_is_cleaned_up_and_a_live_one_kept(postgresql_database: DatabaseUnderTest) -> None:
    db = postgresql_database
    async with Store(db.url, executor_id="alive"):
        # A process that died owning no run.
        db.rows("INSERT INTO owner_leases VALUES ('crashed-1', now() - interval '1 hour', now() - interval '1 minute')")
        async with Store(db.url) as other:
            assert owner_marks(db, Path()) == {"alive", other.executor_id}


async def test_a_live_process_renews_its_lease_so_its_runs_are_never_taken_over(
    postgresql_database: DatabaseUnderTest,
) -> None:
    db = postgresql_database
    async with Store(db.url, executor_id="alive", lease_seconds=1.0) as alive:
        run = await alive.audit.start_run(run_info("long-run"))
        (first_expiry,) = one(db, "SELECT expires_at FROM owner_leases WHERE owner_id = 'alive'")
        # Wait until the lease it took first has run out: only renewals keep it.
        await asyncio.to_thread(db.wait_until, "SELECT now() > ?", first_expiry)
        async with Store(db.url) as other:
            assert other.recovery.interrupted_runs == 0
        await run.close(stats())
    assert status_and_reservation(db, "long-run")[0] == "ok"


async def test_a_message_is_claimed_by_exactly_one_of_two_stores(database: DatabaseUnderTest) -> None:
    async with Store(database.url) as first, Store(database.url) as two:
        await first.threads.set(AgentThread("t1", "g1", "c1", "helper", "u1"))
        messages = range(1000, 1200)
        # Both processes got every message (one bot token, two gateway sessions) and race to take each up.
        wins = await asyncio.gather(
            *(store.threads.mark_handled("t1", m) for m in messages for store in (first, two))
        )
        record = await two.threads.get("t1")
    by_message = [wins[i : i + 2] for i in range(0, len(wins), 2)]
    assert all(sorted(pair) == [False, True] for pair in by_message)
    assert record is not None and record.last_message_id == max(messages)


async def test_an_older_message_can_still_be_claimed_after_a_newer_one(database: DatabaseUnderTest) -> None:
    """A start-up catch-up answers missed messages one run at a time; a newer
    message answered live meanwhile must not make it skip the older ones."""
    async with Store(database.url) as store:
        await store.threads.set(AgentThread("t1", "g1", "c1", "helper", "u1"))
        assert await store.threads.mark_handled("t1", 300)  # caught up
        assert await store.threads.mark_handled("t1", 500)  # live, while the catch-up runs
        assert await store.threads.mark_handled("t1", 400)  # the catch-up's next message
        assert not await store.threads.mark_handled("t1", 400)
        record = await store.threads.get("t1")
    assert record is not None and record.last_message_id == 500


async def test_a_recovered_runs_notice_is_claimed_once(database: DatabaseUnderTest) -> None:
    async with Store(database.url) as store:
        with store.audit.progress_shown("shown", "4242"):
            await store.audit.start_run(run_info("shown"))
        await store.audit.start_run(run_info("console"))  # no progress message: nobody to tell
        recorder = await store.audit.start_run(run_info("done"))
        await recorder.on_step(0, AssistantMessage("ok"), Usage(1, 1))
        await recorder.close(stats())
    async with Store(database.url) as first, Store(database.url) as two:
        assert first.recovery.interrupted_runs == 2
        pending = await two.runs.notices_pending()
        assert [(n.run_id, n.agent_name, n.thread_id, n.progress_message_id) for n in pending] == [
            ("shown", "Helper", "c1", "4242")
        ]
        claims = await asyncio.gather(first.runs.claim_notice("shown"), two.runs.claim_notice("shown"))
        assert sorted(claims) == [False, True]
        assert await first.runs.notices_pending() == []
