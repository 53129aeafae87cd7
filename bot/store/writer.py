"""The single writing connection: a FIFO of writes committed in batches."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.store.connection import transaction

log = logging.getLogger(__name__)

Statement = tuple[str, Sequence[Any]]

#: Most writes committed in one transaction.
MAX_BATCH = 512
#: Queued writes before ``submit`` makes its caller wait (back-pressure).
MAX_PENDING = 10_000


class StoreClosedError(RuntimeError):
    """A write arrived after the store was closed."""


@dataclass(slots=True)
class _Write:
    statements: tuple[Statement, ...]
    durable: bool
    done: asyncio.Future[None] | None


class Writer:
    """Owns the connection every audit, conversation and thread write goes through.

    Writes are applied in the order they were queued. Whatever piles up while
    one commit runs goes into the next transaction, so a busy run does not
    pay one commit per step, and a write never waits on a timer. With WAL and
    synchronous=NORMAL a commit survives a process crash without an fsync; a
    ``durable`` write makes the batch it lands in commit with
    synchronous=FULL, so it also survives power loss.

    One write's statements are atomic. When a batch fails, its writes are
    retried one transaction each, so one bad write cannot sink the others.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue(MAX_PENDING)
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
        """Commit everything queued, then stop. Idempotent. The connection
        stays open (its owner closes it)."""
        if self._closing:
            if self._task is not None:
                await asyncio.shield(self._task)
            return
        self._closing = True
        if self._task is None:
            return
        await self._queue.put(None)
        await asyncio.shield(self._task)

    async def _put(self, item: _Write) -> None:
        if self._closing or self._task is None:
            raise StoreClosedError("the store is closed")
        await self._queue.put(item)

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
            if batch:
                await self._commit(batch)
            if stop:
                return

    async def _commit(self, batch: list[_Write]) -> None:
        durable = any(w.durable for w in batch)
        try:
            if durable:
                await self._conn.execute("PRAGMA synchronous = FULL")
            try:
                await self._apply(batch)
            except sqlite3.Error as exc:
                if len(batch) == 1:
                    _fail(batch[0], exc)
                else:
                    for w in batch:
                        await self._apply_alone(w)
            else:
                for w in batch:
                    _succeed(w)
            finally:
                if durable:
                    await self._conn.execute("PRAGMA synchronous = NORMAL")
        except Exception as exc:  # the connection itself failed; the loop must go on
            log.exception("store writer: a batch of %d writes failed", len(batch))
            for w in batch:
                _fail(w, exc, logged=True)

    async def _apply(self, batch: Sequence[_Write]) -> None:
        async with transaction(self._conn, "IMMEDIATE"):
            for w in batch:
                for sql, params in w.statements:
                    await self._conn.execute(sql, params)

    async def _apply_alone(self, w: _Write) -> None:
        try:
            await self._apply((w,))
        except sqlite3.Error as exc:
            _fail(w, exc)
        else:
            _succeed(w)


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
