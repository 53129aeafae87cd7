"""Store: the one database of the bot, and the objects that use it."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from bot.shards import Shards
from bot.store.audit import StoreAudit
from bot.store.budget import StoreBudget
from bot.store.calls import StoreCallBudget
from bot.store.clock import Clock, utc_now
from bot.store.conversations import Conversations
from bot.store.database import Database
from bot.store.limits import Limits
from bot.store.mcp_pins import StorePins
from bot.store.channel_agents import ChannelAgents
from bot.store.memory import StoreMemory
from bot.store.migrations import apply_migrations
from bot.store.opening import open_errors, postgres_errors, prepare_location
from bot.store.owners import OwnerLocks, Owners, check_executor_id, new_executor_id
from bot.store.recovery import Recovery, Takeover, recover
from bot.store.retention import Retention
from bot.store.runs import Runs
from bot.store.sqlite import SQLiteDatabase
from bot.store.threads import AgentThreads
from bot.store.url import DEFAULT_DATABASE_URL, backend, database_path, redacted
from bot.store.writer import Writer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Parts:
    audit: StoreAudit
    budget: StoreBudget
    calls: StoreCallBudget
    conversations: Conversations
    threads: AgentThreads
    runs: Runs
    mcp_pins: StorePins
    memory: StoreMemory
    retention: Retention
    channel_agents: ChannelAgents


class Store:
    """The database: ``Store.open(url)`` or ``async with Store(url) as store``.

    A SQLite file (``sqlite:///...``) or a PostgreSQL database
    (``postgresql://...``), with the same behaviour. Opening creates a
    SQLite file's folder, applies pending migrations, takes this process's
    ownership (``executor_id``: a lock file beside the SQLite file, see
    ``owners.py``, or a lease on PostgreSQL, see ``leases.py``), then
    recovers what dead processes left: their runs ``running`` ->
    ``interrupted``, their reservations released. Runs of processes still
    alive, such as the bot next to a terminal console, are left alone,
    whichever opened first. Anything unusable on the way raises
    StoreOpenError, one line, never with a password in it.

    Three ways in: the writer (audit, conversations, threads; batched), the
    serial one (transactions that read their own result: budget
    reservations, claims on messages and notices) and a reader. On SQLite
    each is a connection of its own; on PostgreSQL they share a pool.
    ``close`` commits every queued write before it returns.
    """

    def __init__(
        self,
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        clock: Clock = utc_now,
        executor_id: str | None = None,
        lease_seconds: float | None = None,
        durable_runs: bool = True,
        takeover: Takeover = "interrupt",
        shards: Shards | None = None,
        on_commit: Callable[[float], None] | None = None,
        personal_limits: Limits | None = None,
    ) -> None:
        self.url = database_url
        self.backend = backend(database_url)
        #: The SQLite file; None on PostgreSQL.
        self.path: Path | None = database_path(database_url) if self.backend == "sqlite" else None
        #: How the database is named in logs and messages (no password).
        self.shown = str(self.path) if self.path is not None else redacted(database_url)
        #: PostgreSQL: how long this process's lease lasts unrenewed (see leases.py).
        self.lease_seconds = lease_seconds
        #: Every member's limits in their personal scope (DMs): the operator's DM_BUDGET_* settings.
        self.personal_limits = personal_limits
        self.clock = clock
        #: The Discord shards this process runs: it recovers only their guilds' runs (see recovery.py).
        self.shards = shards or Shards()
        #: Told the seconds each batch of writes took to commit (store write latency).
        self.on_commit = on_commit
        #: This process's identity as the owner of its runs.
        self.executor_id = check_executor_id(executor_id) if executor_id else new_executor_id()
        #: Runs recorded as their checkpoint (RUNS_DURABLE), and what this
        #: process does with the resumable runs of gone ones (recovery.py).
        self.durable_runs = durable_runs
        self.takeover = takeover
        #: Migrations this open applied, and what it recovered from dead processes.
        self.applied_migrations: list[int] = []
        self.recovery = Recovery(0, 0)
        self._parts: _Parts | None = None
        self._resources: AsyncExitStack | None = None

    @classmethod
    async def open(
        cls,
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        clock: Clock = utc_now,
        executor_id: str | None = None,
        lease_seconds: float | None = None,
        durable_runs: bool = True,
        takeover: Takeover = "interrupt",
        shards: Shards | None = None,
    ) -> Store:
        store = cls(
            database_url,
            clock=clock,
            executor_id=executor_id,
            lease_seconds=lease_seconds,
            durable_runs=durable_runs,
            takeover=takeover,
            shards=shards,
        )
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
    def calls(self) -> StoreCallBudget:
        return self._open().calls

    @property
    def conversations(self) -> Conversations:
        return self._open().conversations

    @property
    def threads(self) -> AgentThreads:
        return self._open().threads

    @property
    def runs(self) -> Runs:
        return self._open().runs

    @property
    def mcp_pins(self) -> StorePins:
        return self._open().mcp_pins

    @property
    def memory(self) -> StoreMemory:
        return self._open().memory

    @property
    def retention(self) -> Retention:
        return self._open().retention

    @property
    def channel_agents(self) -> ChannelAgents:
        return self._open().channel_agents

    def _open(self) -> _Parts:
        if self._parts is None:
            raise RuntimeError("the store is not open (use Store.open(...) or async with Store(...))")
        return self._parts

    async def _start(self) -> None:
        if self._resources is not None:
            raise RuntimeError("the store is already open")
        async with AsyncExitStack() as stack:
            if self.path is not None:
                with open_errors(self.url, self.path):
                    writer_db, serial, reader, owner = await _open_sqlite(stack, self.url, self.path, self.executor_id)
                    self.applied_migrations = await apply_migrations(writer_db)
                    await _hold(stack, owner)
                    self.recovery = await recover(writer_db, self.clock(), owner, self.takeover, self.shards)
            else:
                with postgres_errors(self.url):
                    writer_db = serial = reader = await _open_postgres(stack, self.url)
                    self.applied_migrations = await apply_migrations(writer_db)
                    owner = _leases(writer_db, self.executor_id, self.lease_seconds)
                    await _hold(stack, owner)
                    self.recovery = await recover(writer_db, self.clock(), owner, self.takeover, self.shards)
            writer = Writer(writer_db, self.on_commit)
            writer.start()
            stack.push_async_callback(writer.close)  # runs first on close: drains before the connections go
            self._parts = _Parts(
                audit=StoreAudit(writer, self.clock, self.executor_id, self.durable_runs),
                budget=StoreBudget(serial, self.clock, self.executor_id, self.personal_limits),
                calls=StoreCallBudget(serial, self.clock, self.personal_limits),
                conversations=Conversations(writer, reader, self.clock),
                threads=AgentThreads(writer, reader, serial, self.clock),
                runs=Runs(reader, serial, self.clock),
                mcp_pins=StorePins(writer, reader, self.clock),
                memory=StoreMemory(serial, reader, self.clock),
                retention=Retention(writer, reader, self.clock),
                channel_agents=ChannelAgents(serial, reader, self.clock),
            )
            self._resources = stack.pop_all()
        if self.applied_migrations:
            log.info("store %s: applied migrations %s", self.shown, self.applied_migrations)
        if self.recovery.resumed:
            log.warning(
                "store %s: took over %d run(s) of %s, a process that is gone, to resume them",
                self.shown,
                len(self.recovery.resumed),
                ", ".join(sorted(self.recovery.owners)) or "?",
            )
        if self.recovery.interrupted_runs or self.recovery.released_reservations:
            log.warning(
                "store %s: marked %d runs interrupted and released %d budget reservations left by %s,"
                " a process that is gone",
                self.shown,
                self.recovery.interrupted_runs,
                self.recovery.released_reservations,
                ", ".join(sorted(self.recovery.owners)) or "?",
            )


async def _open_sqlite(
    stack: AsyncExitStack, url: str, path: Path, executor_id: str
) -> tuple[Database, Database, Database, Owners]:
    """The writer's, the serial and the reader's connections, and the owner lock."""
    prepare_location(url, path)
    opened: list[Database] = []
    for _ in range(3):
        db = await SQLiteDatabase.open(path)
        stack.push_async_callback(db.close)
        opened.append(db)
    return opened[0], opened[1], opened[2], OwnerLocks(path, executor_id)


async def _open_postgres(stack: AsyncExitStack, url: str) -> Database:
    from bot.store.postgres import PostgresDatabase  # psycopg only when PostgreSQL is used

    db = await PostgresDatabase.open(url)
    stack.push_async_callback(db.close)
    return db


def _leases(db: Database, executor_id: str, lease_seconds: float | None) -> Owners:
    from bot.store.leases import LEASE_SECONDS, OwnerLeases

    return OwnerLeases(db, executor_id, LEASE_SECONDS if lease_seconds is None else lease_seconds)


async def _hold(stack: AsyncExitStack, owner: Owners) -> None:
    await owner.hold()
    # LIFO: released after the writer drains, before the connections close.
    stack.push_async_callback(owner.release)


async def migrate(database_url: str) -> list[int]:
    """``python -m bot migrate``: bring the database at ``database_url`` up to
    date (creating a SQLite file and its folder if needed); return what was
    applied. StoreOpenError when the database cannot be used."""
    async with AsyncExitStack() as stack:
        if backend(database_url) == "postgresql":
            with postgres_errors(database_url):
                return await apply_migrations(await _open_postgres(stack, database_url))
        path = database_path(database_url)
        with open_errors(database_url, path):
            prepare_location(database_url, path)
            db = await SQLiteDatabase.open(path)
            stack.push_async_callback(db.close)
            return await apply_migrations(db)
