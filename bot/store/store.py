"""Store: the one database of the bot, and the objects that use it."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bot.store.audit import StoreAudit
from bot.store.budget import StoreBudget
from bot.store.clock import Clock, utc_now
from bot.store.connection import SharedConnection, connect
from bot.store.conversations import Conversations
from bot.store.migrations import apply_migrations
from bot.store.opening import open_errors, prepare_location
from bot.store.owners import OwnerLocks, check_executor_id, new_executor_id
from bot.store.recovery import Recovery, recover
from bot.store.runs import Runs
from bot.store.serial import SerialConnection
from bot.store.threads import AgentThreads
from bot.store.url import DEFAULT_DATABASE_URL, database_path
from bot.store.writer import Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Parts:
    audit: StoreAudit
    budget: StoreBudget
    conversations: Conversations
    threads: AgentThreads
    runs: Runs


class Store:
    """The database: ``Store.open(url)`` or ``async with Store(url) as store``.

    Opening creates the folder, applies pending migrations, takes this
    process's owner lock (``executor_id``, see ``owners.py``), then recovers
    what dead processes left: their runs ``running`` -> ``interrupted``,
    their reservations released. Runs of processes still alive, such as the
    bot next to a terminal console, are left alone, whichever opened first.
    Anything unusable on the way raises StoreOpenError, one line.

    Three connections: the writer (audit, conversations, threads; batched),
    the serial one (transactions that read their own result: budget
    reservations, claims on messages and notices) and a reader.
    ``close`` commits every queued write before it returns.
    """

    def __init__(
        self, database_url: str = DEFAULT_DATABASE_URL, *, clock: Clock = utc_now, executor_id: str | None = None
    ) -> None:
        self.url = database_url
        self.path: Path = database_path(database_url)
        self.clock = clock
        #: This process's identity as the owner of its runs.
        self.executor_id = check_executor_id(executor_id) if executor_id else new_executor_id()
        #: Migrations this open applied, and what it recovered from dead processes.
        self.applied_migrations: list[int] = []
        self.recovery = Recovery(0, 0)
        self._parts: _Parts | None = None
        self._resources: AsyncExitStack | None = None

    @classmethod
    async def open(
        cls, database_url: str = DEFAULT_DATABASE_URL, *, clock: Clock = utc_now, executor_id: str | None = None
    ) -> Store:
        store = cls(database_url, clock=clock, executor_id=executor_id)
        await store._start()
        return store

    async def __aenter__(self) -> Store:
        await self._start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Commit every queued write, then close the connections. Idempotent."""
        resources, self._resources, self._parts = self._resources, None, None
        if resources is not None:
            await resources.aclose()

    @property
    def audit(self) -> StoreAudit:
        return self._open().audit

    @property
    def budget(self) -> StoreBudget:
        return self._open().budget

    @property
    def conversations(self) -> Conversations:
        return self._open().conversations

    @property
    def threads(self) -> AgentThreads:
        return self._open().threads

    @property
    def runs(self) -> Runs:
        return self._open().runs

    def _open(self) -> _Parts:
        if self._parts is None:
            raise RuntimeError("the store is not open (use Store.open(...) or async with Store(...))")
        return self._parts

    async def _start(self) -> None:
        if self._resources is not None:
            raise RuntimeError("the store is already open")
        async with AsyncExitStack() as stack:
            with open_errors(self.url, self.path):
                prepare_location(self.url, self.path)
                writer_conn = await connect(self.path)
                stack.push_async_callback(writer_conn.close)
                self.applied_migrations = await apply_migrations(writer_conn)
                owner = OwnerLocks(self.path, self.executor_id)
                await owner.hold()
                stack.callback(owner.release)  # LIFO: after the writer drains and the other connections close
                self.recovery = await recover(writer_conn, self.clock(), owner)
                reader = SharedConnection(await connect(self.path))
                stack.push_async_callback(reader.close)
                serial = await SerialConnection.open(self.path)
                stack.push_async_callback(serial.close)
            writer = Writer(writer_conn)
            writer.start()
            stack.push_async_callback(writer.close)  # runs first on close: drains before the connections go
            self._parts = _Parts(
                audit=StoreAudit(writer, self.clock, self.executor_id),
                budget=StoreBudget(serial, self.clock, self.executor_id),
                conversations=Conversations(writer, reader, self.clock),
                threads=AgentThreads(writer, reader, serial, self.clock),
                runs=Runs(reader, serial),
            )
            self._resources = stack.pop_all()
        if self.applied_migrations:
            log.info("store %s: applied migrations %s", self.path, self.applied_migrations)
        if self.recovery.interrupted_runs or self.recovery.released_reservations:
            log.warning(
                "store %s: marked %d runs interrupted and released %d budget reservations left by %s,"
                " a process that is gone",
                self.path,
                self.recovery.interrupted_runs,
                self.recovery.released_reservations,
                ", ".join(sorted(self.recovery.owners)) or "?",
            )


async def migrate(database_url: str) -> list[int]:
    """``python -m bot migrate``: bring the database at ``database_url`` up to
    date (creating the file and its folder if needed); return what was
    applied. StoreOpenError when the database cannot be used."""
    path = database_path(database_url)
    with open_errors(database_url, path):
        prepare_location(database_url, path)
        conn = await connect(path)
        try:
            return await apply_migrations(conn)
        finally:
            await conn.close()
