"""A plain sqlite3 connection driven from one worker thread.

For the budget's check-and-reserve: with aiosqlite every statement is a hop
to its thread and back, and a check is several statements under one write
lock, so concurrent checks queued up behind each other's hops (about 3 ms a
check). Here a whole transaction is one function run in the worker thread:
one hop, and the write lock is held only for the statements themselves. A
call runs to its end even if the awaiting task is cancelled, so a
transaction is never left open.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from bot.store.connection import PRAGMAS, TransactionMode

P = ParamSpec("P")
T = TypeVar("T")


class SerialConnection:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="executus-budget")
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path) -> SerialConnection:
        serial = cls(path)
        await asyncio.get_running_loop().run_in_executor(serial._pool, serial._connect)
        return serial

    def _connect(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            conn.execute(pragma)
        self._conn = conn

    async def call(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(connection, *args)`` in the worker thread; calls run one at a time."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("the connection is closed")
        future = asyncio.get_running_loop().run_in_executor(self._pool, lambda: fn(conn, *args, **kwargs))
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Waits for calls in flight, then closes. Idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, conn.close)
        self._pool.shutdown(wait=True)


@contextmanager
def transaction(conn: sqlite3.Connection, mode: TransactionMode = "DEFERRED") -> Iterator[sqlite3.Connection]:
    """BEGIN ... COMMIT on a plain connection, rolled back on any exception."""
    conn.execute(f"BEGIN {mode}")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
