"""The single writing connection: a FIFO of writes committed in batches."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.database import Database, Tx

log = logging.getLogger(__name__)

Statement = tuple[str, Sequence[Any]]

#: Most writes committed in one transaction.
MAX_BATCH = 512
#: Queued writes before ``submit`` makes its caller wait (back-pressure). It
#: also bounds how long a ``write`` can wait behind others: a few batches.
MAX_PENDING = 4 * MAX_BATCH
#: Batches of at most this many writes are ``small`` (the database may commit
#: them without leaving the event loop): a lone run's step, not the batches
#: of many runs, whose commits are better left to the database's own thread.
SMALL_BATCH = 2


class StoreClosedError(RuntimeError):
    """A write arrived after the store was closed."""


@dataclass(slots=True)
class _Write:
    statements: tuple[Statement, ...]
    durable: bool
    done: asyncio.Future[None] | None


class Writer:
    """Owns the connection every audit, conversation and thread write goes through.

    Whatever piles up while one commit runs goes into the next transaction,
    so a busy run does not pay one commit per step, and a write never waits
    on a timer. A commit survives a process crash; a ``durable`` write makes
    the batch it lands in survive power loss too (on SQLite, whose commits
    otherwise skip the fsync, see ``Database.transact``).

    Batches commit in queue order. Inside a batch, statements are grouped by
    the table they write (consecutive identical statements become one
    ``executemany``, one trip to the database thread): each table sees its
    statements in queue order, but tables may be written in another order.
    Hence the contract for statements: INSERT, UPDATE or DELETE that read no
    table but the one they write, with foreign keys deferred to commit.

    One write's statements are atomic. When a batch fails, its writes are
    retried one transaction each, so one bad write cannot sink the others.
    """

    def __init__(self, db: Database, on_commit: Callable[[float], None] | None = None) -> None:
        self._db = db
        #: Told how many seconds each committed transaction took (the store write latency metric).
        self._on_commit = on_commit
        # Unbounded: back-pressure is ``_room``, so that close() can wake the
        # callers waiting for room (a full asyncio.Queue would strand them).
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()
        self._room = asyncio.Event()
        self._waiting = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="store-writer")

    async def submit(self, *statements: Statement) -> None:
        """Queue a write and return without waiting for its commit.

        For records whose loss in a crash is acceptable (the steps of a run that
        will be marked interrupted anyway). A failure is logged, not raised.
        Waits only when ``MAX_PENDING`` writes are already queued.
        """
        await self._put(_Write(statements, durable=False, done=None))

    async def write(self, *statements: Statement, durable: bool = False) -> None:
        """Queue a write and wait until it is committed; raise its error.

        Everything queued before it is committed by then too (FIFO).
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._put(_Write(statements, durable=durable, done=done))
        await done

    async def close(self) -> None:
        """Commit everything queued (including the writes of callers waiting
        for room), then stop; later writes raise StoreClosedError. Idempotent.
        The database stays open (its owner closes it)."""
        if self._closing:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closing = True
        if self._task is None:
            return
        self._room.set()
        while self._waiting:  # let them enqueue ahead of the stop mark
            await asyncio.sleep(0)
        self._queue.put_nowait(None)
        await asyncio.shield(self._task)

    async def _put(self, item: _Write) -> None:
        if self._closing or self._task is None:
            raise StoreClosedError("the store is closed")
        for sql, _ in item.statements:
            target_table(sql)  # a statement the writer cannot order fails its caller, not the batch
        while self._queue.qsize() >= MAX_PENDING and not self._closing:
            self._room.clear()
            self._waiting += 1
            try:
                await self._room.wait()
            finally:
                self._waiting -= 1
        self._queue.put_nowait(item)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch: list[_Write] = []
            stop = first is None
            if first is not None:
                batch.append(first)
            while not stop and len(batch) < MAX_BATCH and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            self._room.set()
            if batch:
                await self._commit(batch)
            if stop:
                return

    async def _commit(self, batch: list[_Write]) -> None:
        try:
            try:
                await self._apply(batch)
            except self._db.errors as exc:
                if len(batch) == 1:
                    _fail(batch[0], exc)
                else:
                    for w in batch:
                        await self._apply_alone(w)
            else:
                for w in batch:
                    _succeed(w)
        except Exception as exc:  # the connection itself failed; the loop must go on
            log.exception("store writer: a batch of %d writes failed", len(batch))
            for w in batch:
                _fail(w, exc, logged=True)

    async def _apply(self, batch: Sequence[_Write]) -> None:
        by_table: dict[str, list[tuple[str, list[Sequence[Any]]]]] = {}
        for w in batch:
            for sql, params in w.statements:
                runs = by_table.setdefault(target_table(sql), [])
                if runs and runs[-1][0] == sql:
                    runs[-1][1].append(params)
                else:
                    runs.append((sql, [params]))
        groups = [run for runs in by_table.values() for run in runs]
        started = time.perf_counter()
        durable = any(w.durable for w in batch)
        small = len(batch) <= SMALL_BATCH
        await self._db.transact(lambda tx: _execute(tx, groups), write=True, durable=durable, small=small)
        if self._on_commit is not None:
            self._on_commit(time.perf_counter() - started)

    async def _apply_alone(self, w: _Write) -> None:
        try:
            await self._apply((w,))
        except self._db.errors as exc:
            _fail(w, exc)
        else:
            _succeed(w)


async def _execute(tx: Tx, groups: list[tuple[str, list[Sequence[Any]]]]) -> None:
    for sql, rows in groups:
        if len(rows) == 1:
            await tx.execute(sql, rows[0])
        else:
            await tx.executemany(sql, rows)


_TARGET = re.compile(r"\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(\w+)", re.I)


@functools.lru_cache(maxsize=256)
def target_table(sql: str) -> str:
    """The table an INSERT, UPDATE or DELETE writes; ValueError for any other statement."""
    match = _TARGET.match(sql)
    if match is None:
        raise ValueError(f"the store writer runs only INSERT, UPDATE and DELETE statements, not {sql[:60]!r}")
    return match.group(1).lower()


def _succeed(w: _Write) -> None:
    if w.done is not None and not w.done.done():
        w.done.set_result(None)


def _fail(w: _Write, exc: BaseException, *, logged: bool = False) -> None:
    if w.done is not None:
        if not w.done.done():
            w.done.set_exception(exc)
    elif not logged:
        sql = " ".join(w.statements[0][0].split()) if w.statements else ""
        log.error("store writer: a queued write failed (%s): %.80s", exc, sql)
