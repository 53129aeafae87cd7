"""SQLiteDatabase: where a transaction runs (bot/store/sqlite.py).

A small write commits on the event loop's thread when the connection's own
thread has nothing in hand; anything else, and a small write that would have
to wait for another connection's lock, goes to the thread. These tests use
a real file and a second real connection to hold the lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.store.database import Tx
from bot.store.sqlite import SQLiteDatabase


@pytest.fixture
async def db(tmp_path: Path) -> SQLiteDatabase:
    database = await SQLiteDatabase.open(tmp_path / "t.db")
    await database.transact(lambda tx: tx.execute("CREATE TABLE t (v INTEGER)"), write=True)
    yield database  # type: ignore[misc]
    await database.close()


def _insert(value: int, threads: list[int]):  # type: ignore[no-untyped-def]
    async def body(tx: Tx) -> None:
        threads.append(threading.get_ident())
        await tx.execute("INSERT INTO t (v) VALUES (?)", (value,))

    return body


async def _values(db: SQLiteDatabase) -> list[int]:
    rows = await db.transact(lambda tx: tx.fetchall("SELECT v FROM t ORDER BY v"))
    return [row[0] for row in rows]


async def test_a_small_write_commits_on_the_loops_thread_and_others_in_the_databases_thread(db: SQLiteDatabase) -> None:
    here: list[int] = []
    there: list[int] = []
    await db.transact(_insert(1, here), write=True, small=True)
    await db.transact(_insert(2, there), write=True)
    assert here == [threading.get_ident()]
    assert there and there[0] != threading.get_ident()
    assert await _values(db) == [1, 2]


async def test_a_durable_small_write_still_goes_to_the_thread(db: SQLiteDatabase) -> None:
    threads: list[int] = []
    await db.transact(_insert(1, threads), write=True, durable=True, small=True)
    assert threads[0] != threading.get_ident()


async def test_a_small_write_never_waits_on_the_loop_for_another_connections_lock(db: SQLiteDatabase) -> None:
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the write lock, as another process's writer could hold it
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    threads: list[int] = []
    try:
        await db.transact(_insert(7, threads), write=True, small=True)
    finally:
        release.join()
        other.close()
    # The attempt on the loop gave way at once; the thread waited for the lock.
    assert threads == [threads[0]] and threads[0] != threading.get_ident()
    assert await _values(db) == [7]
    # Once the lock is free, small writes commit on the loop again.
    here: list[int] = []
    await db.transact(_insert(8, here), write=True, small=True)
    assert here == [threading.get_ident()]


async def test_a_small_write_waits_for_the_threads_transaction_instead_of_sharing_the_connection(
    db: SQLiteDatabase,
) -> None:
    started = threading.Event()
    release = threading.Event()

    async def slow(tx: Tx) -> None:
        started.set()
        release.wait(5)  # the thread is inside a transaction on the connection
        await tx.execute("INSERT INTO t (v) VALUES (1)")

    first = asyncio.create_task(db.transact(slow, write=True))
    await asyncio.to_thread(started.wait, 5)
    threads: list[int] = []
    second = asyncio.create_task(db.transact(_insert(2, threads), write=True, small=True))
    await asyncio.sleep(0.05)
    assert not second.done() and threads == []  # not run on the loop beside the thread's transaction
    release.set()
    await asyncio.gather(first, second)
    assert threads[0] != threading.get_ident()
    assert await _values(db) == [1, 2]


async def test_a_failing_small_write_rolls_back_and_raises(db: SQLiteDatabase) -> None:
    async def broken(tx: Tx) -> None:
        await tx.execute("INSERT INTO t (v) VALUES (1)")
        await tx.execute("INSERT INTO missing (v) VALUES (1)")

    with pytest.raises(sqlite3.OperationalError):
        await db.transact(broken, write=True, small=True)
    assert await _values(db) == []
    threads: list[int] = []
    await db.transact(_insert(3, threads), write=True, small=True)  # the connection is usable, here
    assert threads == [threading.get_ident()]
    assert await _values(db) == [3]


class _Recording(SQLiteDatabase):
    """A real SQLiteDatabase that remembers the ``small`` hint of each write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.small: list[bool] = []

    async def transact(self, body, *, write=False, key="", durable=False, small=False):  # type: ignore[no-untyped-def]
        if write:
            self.small.append(small)
        return await super().transact(body, write=write, key=key, durable=durable, small=small)


async def test_the_writer_marks_a_lone_runs_write_small_and_a_pile_of_writes_not(tmp_path: Path) -> None:
    from bot.store.writer import SMALL_BATCH, Writer

    recording = await _Recording.open(tmp_path / "w.db")
    await recording.transact(lambda tx: tx.execute("CREATE TABLE t (v INTEGER)"), write=True)
    writer = Writer(recording)
    writer.start()
    try:
        recording.small.clear()
        await writer.write(("INSERT INTO t (v) VALUES (?)", (1,)))
        assert recording.small == [True]
        # Writes queued while the writer is busy land in one batch, too big to be small.
        writes = [writer.write(("INSERT INTO t (v) VALUES (?)", (v,))) for v in range(2, 2 + 4 * SMALL_BATCH)]
        await asyncio.gather(*writes)
        assert False in recording.small
    finally:
        await writer.close()
        await recording.close()
    assert await _count(tmp_path / "w.db") == 1 + 4 * SMALL_BATCH


async def _count(path: Path) -> int:
    db = await SQLiteDatabase.open(path)
    try:
        row = await db.transact(lambda tx: tx.fetchone("SELECT count(*) FROM t"))
    finally:
        await db.close()
    assert row is not None
    return int(row[0])
