"""The two ports every store module talks to its database through.

A store operation is a *transaction body*: an async function of a ``Tx``
that runs whole, in one transaction, or not at all. ``Database.transact``
runs it. The same body runs on both databases:

- on SQLite (``sqlite.py``) in the connection's own thread, the whole body
  in one hop off the event loop (its awaits on the ``Tx`` never suspend);
- on PostgreSQL (``postgres.py``) on a pooled psycopg connection.

Either way a body runs to its end once started, even when the task that
awaited it is cancelled, so no transaction is ever left open.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from bot.store.dialect import Dialect

T = TypeVar("T")

Params = Sequence[Any]


def placeholders(values: Sequence[object]) -> str:
    """``(?, ?, ...)``, one mark per value, for ``IN`` lists (both dialects
    write ``?``; see dialect.py)."""
    return f"({', '.join('?' * len(values))})"


class Row(Protocol):
    """A result row, read by column name or position (``sqlite3.Row`` is one)."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class Tx(Protocol):
    """One open transaction. SQL is written with ``?`` placeholders (see dialect.py)."""

    dialect: Dialect

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    def iterate(self, sql: str, params: Params = ()) -> AsyncGenerator[Row, None]:
        """The rows one at a time, for a reader that may stop early."""
        ...


Body = Callable[[Tx], Coroutine[Any, Any, T]]


class Database(Protocol):
    dialect: Dialect
    #: What a failed statement raises (a constraint, a type): the writer
    #: retries a failed batch write by write on these.
    errors: tuple[type[Exception], ...]

    async def transact(
        self, body: Body[T], *, write: bool = False, key: str = "", durable: bool = False, small: bool = False
    ) -> T:
        """Run ``body`` in one transaction and return what it returns.

        ``write``: the body reads, then writes what it read decides. Such
        transactions with the same ``key`` are serialised, across processes
        too; on SQLite every write is (``BEGIN IMMEDIATE``), on PostgreSQL
        those with a ``key`` (an advisory lock on it), so one member's budget
        checks queue while other members' go on. ``durable``: the commit
        survives a power loss too, not only the process's crash. ``small``:
        a hint that the body is a few statements, cheap enough to run without
        leaving the event loop (SQLite may then skip its thread hop, which
        cost more than the commit itself); a database may ignore it.
        """
        ...

    async def close(self) -> None:
        """Wait for the transactions in flight, then close. Idempotent."""
        ...
