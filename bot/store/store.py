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
from bot.store.mcp_pins import StorePins
from bot.store.migrations import apply_migrations
from bot.store.owner import OwnerLock
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
    mcp_pins: StorePins


class Store:
    """The database: ``Store.open(url)`` or ``async with Store(url) as store``.

    Opening creates the folder, applies pending migrations, then, if no
    other process has the database open (see ``owner.py``), recovers what a
    dead process left (runs ``running`` -> ``interrupted``, reservations
    released). Other processes (the terminal console next to the bot) may
    open it too; they leave recovery to the owner. Three connections: the writer (audit, conversations, threads;
    batched), the budget's (``BEGIN IMMEDIATE`` reservations) and a reader.
    ``close`` commits every queued write before it returns.
    """

    def __init__(self, database_url: str = DEFAULT_DATABASE_URL, *, clock: Clock = utc_now) -> None:
        self.path: Path = database_path(database_url)
        self.clock = clock
        #: Migrations this open applied, and what it recovered from a dead process.
        self.applied_migrations: list[int] = []
        self.recovery = Recovery(0, 0)
        self._parts: _Parts | None = None
        self._resources: AsyncExitStack | None = None

    @classmethod
    async def open(cls, database_url: str = DEFAULT_DATABASE_URL, *, clock: Clock = utc_now) -> Store:
        store = cls(database_url, clock=clock)
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

    @property
    def mcp_pins(self) -> StorePins:
        return self._open().mcp_pins

    def _open(self) -> _Parts:
        if self._parts is None:
            raise RuntimeError("the store is not open (use Store.open(...) or async with Store(...))")
        return self._parts

    async def _start(self) -> None:
        if self._resources is not None:
            raise RuntimeError("the store is already open")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            writer_conn = await connect(self.path)
            stack.push_async_callback(writer_conn.close)
            self.applied_migrations = await apply_migrations(writer_conn)
            owner = OwnerLock(self.path)
            stack.callback(owner.release)
            if owner.acquire():
                self.recovery = await recover(writer_conn, self.clock())
            else:
                log.info("store %s: another process owns this database; start-up recovery left to it", self.path)
            reader = SharedConnection(await connect(self.path))
            stack.push_async_callback(reader.close)
            budget_conn = await SerialConnection.open(self.path)
            stack.push_async_callback(budget_conn.close)
            writer = Writer(writer_conn)
            writer.start()
            stack.push_async_callback(writer.close)  # runs first on close: drains before the connections go
            audit = StoreAudit(writer, self.clock)
            self._parts = _Parts(
                audit=audit,
                budget=StoreBudget(budget_conn, audit, self.clock),
                conversations=Conversations(writer, reader, self.clock),
                threads=AgentThreads(writer, reader, self.clock),
                runs=Runs(reader),
                mcp_pins=StorePins(writer, reader, self.clock),
            )
            self._resources = stack.pop_all()
        if self.applied_migrations:
            log.info("store %s: applied migrations %s", self.path, self.applied_migrations)
        if self.recovery.interrupted_runs or self.recovery.released_reservations:
            log.warning(
                "store %s: marked %d runs interrupted and released %d budget reservations left by a previous process",
                self.path,
                self.recovery.interrupted_runs,
                self.recovery.released_reservations,
            )
