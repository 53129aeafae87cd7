"""Opening SQLite connections the way every part of the store needs them,
and running one transaction at a time on a shared connection."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import aiosqlite

#: How long a connection waits for another connection's write lock.
BUSY_TIMEOUT_MS = 10_000

TransactionMode = Literal["DEFERRED", "IMMEDIATE"]
#: Set on every connection (WAL is switched on once, by the first one).
PRAGMAS = (f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON")


async def connect(path: Path) -> aiosqlite.Connection:
    """A connection in WAL mode with synchronous=NORMAL (a commit survives a
    process crash without waiting on an fsync), a busy timeout and foreign keys.

    Autocommit at the driver level: transactions are explicit (see
    ``transaction``), so ``BEGIN IMMEDIATE`` means what it says.
    """
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = aiosqlite.Row
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise sqlite3.OperationalError(
                f"could not switch {path} to WAL mode (journal_mode is {row[0] if row else None!r})"
            )
    except BaseException:
        await conn.close()
        raise
    return conn


@asynccontextmanager
async def transaction(conn: aiosqlite.Connection, mode: TransactionMode = "DEFERRED") -> AsyncIterator[None]:
    """BEGIN ... COMMIT, rolled back on any exception (cancellation too).

    ``IMMEDIATE`` takes the write lock up front, so a read-then-write cannot
    be overtaken by another connection between its read and its write.

    Cancellation-safe: a statement already handed to aiosqlite's thread runs
    to the end whatever happens to the caller, so BEGIN, COMMIT and ROLLBACK
    are awaited to completion (``_settle``) and a cancelled caller never
    leaves the connection inside an open transaction.
    """
    try:
        await _settle(conn.execute(f"BEGIN {mode}"))
        yield
        await _settle(conn.execute("COMMIT"))
    except BaseException:
        if conn.in_transaction:
            await _settle(conn.rollback())
        raise


async def _settle(statement: Awaitable[object]) -> None:
    """Await ``statement`` to completion even if this task is cancelled
    meanwhile; the cancellation is re-raised once it is done."""
    task = asyncio.ensure_future(statement)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


class SharedConnection:
    """A connection several tasks share, one transaction at a time.

    aiosqlite serializes statements on its thread but not transactions: two
    tasks interleaving BEGINs on one connection would fail, so each
    transaction holds the lock.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self, mode: TransactionMode = "DEFERRED") -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock, transaction(self._conn, mode):
            yield self._conn

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()
