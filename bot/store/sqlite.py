"""The store on SQLite: a plain sqlite3 connection driven from one worker thread.

A transaction body (see database.py) runs whole in the worker thread: one
hop off the event loop per transaction, not one per statement, and the
write lock is held only for the statements themselves. The body is a
coroutine whose awaits on ``SQLiteTx`` never suspend, so the thread runs it
to completion with a single ``send`` (``_drive``). A call runs to its end
even if the awaiting task is cancelled, so a transaction is never left open.

The store opens several of these on one file (writer, budget, reader), each
its own connection and thread; WAL lets the readers go on while one writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncGenerator, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from bot.store.database import Body, Params, Row
from bot.store.dialect import SQLITE

T = TypeVar("T")

#: How long a connection waits for another connection's write lock.
BUSY_TIMEOUT_MS = 10_000
#: SQLite's default: the commit that grows the WAL past this many pages copies it into the database.
AUTOCHECKPOINT_PAGES = 1000
#: Set on every connection (WAL is switched on once, by the first one).
PRAGMAS = (f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON")


class SQLiteTx:
    dialect = SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    async def iterate(self, sql: str, params: Params = ()) -> AsyncGenerator[Row, None]:
        for row in self._conn.execute(sql, params):
            yield row


class SQLiteDatabase:
    """A ``Database`` on one connection to the file at ``path``; transactions
    run one at a time, in its thread."""

    dialect = SQLITE
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="executus-sqlite")
        self._conn: sqlite3.Connection | None = None
        #: Transactions handed to the thread and not yet seen finished by the loop.
        self._in_thread = 0

    @classmethod
    async def open(cls, path: Path) -> SQLiteDatabase:
        """Connect, in WAL mode with synchronous=NORMAL (a commit survives a
        process crash without waiting on an fsync), a busy timeout and
        foreign keys. sqlite3.Error or OSError when the file cannot be used."""
        db = cls(path)
        try:
            db._conn = await asyncio.get_running_loop().run_in_executor(db._pool, _connect, path)
        except BaseException:
            db._pool.shutdown(wait=False)
            raise
        return db

    async def transact(
        self, body: Body[T], *, write: bool = False, key: str = "", durable: bool = False, small: bool = False
    ) -> T:
        # ``key`` needs nothing here: BEGIN IMMEDIATE serialises every write
        # on the file, whatever it is about.
        conn = self._conn
        if conn is None:
            raise RuntimeError("the connection is closed")
        mode = "IMMEDIATE" if write else "DEFERRED"
        # A small write commits here, on the loop, when the thread has nothing
        # of this connection's in hand (so the connection is never in two
        # threads at once): the hop to the thread and back cost a lone run
        # several times the commit itself, twice a model call. Never a
        # durable one (its fsync can take milliseconds).
        if small and write and not durable and self._in_thread == 0:
            ran, result = _run_here(conn, body)
            if ran:
                return cast(T, result)
        future = asyncio.get_running_loop().run_in_executor(self._pool, _run, conn, body, mode, durable)
        self._in_thread += 1
        future.add_done_callback(self._left_thread)
        return await asyncio.shield(future)

    def _left_thread(self, _: object) -> None:
        self._in_thread -= 1

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, conn.close)
        self._pool.shutdown(wait=True)


def _connect(path: Path) -> sqlite3.Connection:
    # Autocommit at the driver level: transactions are explicit, so that
    # BEGIN IMMEDIATE means what it says.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            conn.execute(pragma)
        row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise sqlite3.OperationalError(
                f"could not switch {path} to WAL mode (journal_mode is {row[0] if row else None!r})"
            )
    except BaseException:
        conn.close()
        raise
    return conn


def _run(conn: sqlite3.Connection, body: Body[T], mode: str, durable: bool) -> T:
    """In the worker thread: BEGIN, the body, COMMIT; ROLLBACK on any error."""
    if durable:
        conn.execute("PRAGMA synchronous = FULL")
    try:
        conn.execute(f"BEGIN {mode}")
        return _committed(conn, body)
    finally:
        if durable:
            conn.execute("PRAGMA synchronous = NORMAL")


def _run_here(conn: sqlite3.Connection, body: Body[T]) -> tuple[bool, T | None]:
    """On the event loop's thread: the write transaction ``_run`` makes, but
    one that never waits. With no busy timeout, a write lock another
    connection or process holds makes BEGIN fail at once, and the caller
    sends the transaction to the thread, which waits for it (``(False,
    None)``). Automatic checkpoints are left to the thread's commits and the
    other connections': a checkpoint writes the database file."""
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                return False, None
            raise
        return True, _committed(conn, body)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")


def _committed(conn: sqlite3.Connection, body: Body[T]) -> T:
    """After BEGIN: the body, then COMMIT; ROLLBACK on any error."""
    try:
        result = _drive(body(SQLiteTx(conn)))
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return result


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here and now."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("a SQLite transaction body awaited something other than its connection")
