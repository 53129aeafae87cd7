"""The store on PostgreSQL: psycopg 3, async, on a pool of connections.

Imported only when DATABASE_URL names PostgreSQL, so that the default
install (SQLite) does not need psycopg.

Transactions run at READ COMMITTED, each on a pooled connection, so
transactions of different members, threads and processes go on side by
side. A ``write`` transaction with a ``key`` first takes
``pg_advisory_xact_lock`` on that key: one member's budget
check-and-reserve waits for the previous one to commit, across processes
and machines, and then reads what it wrote (every statement at READ
COMMITTED sees what committed before it began). The lock goes with the
transaction's end, however it ends, a dropped connection included.

Every commit is as durable as the server's ``synchronous_commit`` makes it
(on, by default), so ``durable`` asks nothing more here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Loader
from psycopg_pool import AsyncConnectionPool

from bot.store.database import Body, Params, Row
from bot.store.dialect import POSTGRESQL

T = TypeVar("T")

#: Connections one process keeps at most: the writer, budget checks,
#: readers and the owner lease share them.
POOL_SIZE = 10
#: How long opening waits for the server.
CONNECT_TIMEOUT = 10
#: The first key of every advisory lock the store takes (its two-key form),
#: so that they cannot collide with another application's one-key locks.
LOCK_SPACE = 0x65786563  # "exec"


class PgRow:
    """A result row, by column name or position, as ``sqlite3.Row``."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: str | int) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


def _rows(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, index)


class _WholeNumericLoader(Loader):
    """``SUM`` of BIGINT is NUMERIC in PostgreSQL, a Decimal in Python; the
    store's sums are counts, so a whole NUMERIC loads as an int (as SQLite
    gives it), any other as a float."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    conn.row_factory = _rows
    conn.adapters.register_loader("numeric", _WholeNumericLoader)


class PostgresTx:
    dialect = POSTGRESQL

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cursor = await self._conn.execute(self.dialect.sql(sql), tuple(params))
        return cursor.rowcount

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(self.dialect.sql(sql), rows)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cursor = await self._conn.execute(self.dialect.sql(sql), tuple(params))
        row: Row | None = await cursor.fetchone()
        return row

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cursor = await self._conn.execute(self.dialect.sql(sql), tuple(params))
        return list(await cursor.fetchall())

    async def iterate(self, sql: str, params: Params = ()) -> AsyncGenerator[Row, None]:
        async with self._conn.cursor() as cursor:
            await cursor.execute(self.dialect.sql(sql), tuple(params))
            async for row in cursor:
                yield row


class PostgresDatabase:
    dialect = POSTGRESQL
    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._running: set[asyncio.Task[Any]] = set()
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> PostgresDatabase:
        """Connect to the server at ``url``. psycopg.Error when it cannot be
        reached or refuses (a first connection is made alone, so that the
        error says why; the pool would only say that it timed out)."""
        first = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        await first.close()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True},
            configure=_configure,
            name="executus-store",
            open=False,
        )
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        return cls(pool)

    async def transact(
        self, body: Body[T], *, write: bool = False, key: str = "", durable: bool = False, small: bool = False
    ) -> T:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        # A task of its own, shielded: a cancelled caller does not cut the
        # transaction short (as on SQLite, where it runs in a thread).
        task = asyncio.ensure_future(self._transact(body, key if write else ""))
        self._running.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def _transact(self, body: Body[T], key: str) -> T:
        async with self._pool.connection() as conn, conn.transaction():
            if key:
                await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_SPACE, key))
            return await body(PostgresTx(conn))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*self._running, return_exceptions=True)
        await self._pool.close()


def _settled(task: asyncio.Task[Any]) -> None:
    """Take the error of a transaction whose caller was cancelled, so that
    asyncio does not report it as never retrieved (the caller is gone)."""
    if not task.cancelled():
        task.exception()
