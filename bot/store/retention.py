"""Retention: the audit trail and conversations older than AUDIT_RETENTION_DAYS.

The audit trail grows with every run (several KB a tool-using run, see
``bench/audit_growth.py``) and nothing else ever deletes it. Pruning removes
finished runs that started before the cutoff with their steps, tool calls
and events, the images durable runs stored (``blobs``) that no run has used
since the cutoff, and the conversations of threads idle since before it. Budget
records (ledger rows, model call records, warnings given) go once they are
older than both the cutoff and the start of every budget period (day, week,
month) in force, so no member's usage shrinks mid-period.

It works in small batches: each is one write of at most ``batch`` runs (or
threads, or budget records) queued on the store's writer like any other
write, so a run's audit rows wait behind one small batch at most, never
behind the whole pruning. The rows to delete are found on the reader
connection by indexes (migrations 8 and 10), in bounded queries.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

from bot.store.clock import Clock, to_db
from bot.store.database import Database, placeholders
from bot.store.periods import Period
from bot.store.statuses import StoredStatus
from bot.store.writer import Statement, Writer

log = logging.getLogger(__name__)

#: Runs, threads or ledger rows deleted by one write.
BATCH = 200
#: Between two batches of the background pruning: room for the runs' own writes.
PAUSE = 0.05
#: How often the bot prunes in the background.
EVERY = 3600.0


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a pruning deleted: runs (each with its steps, tool calls and
    events), threads whose conversation was dropped, budget ledger rows,
    model call records (``budget_calls``) and stored images (``blobs``)."""

    runs: int = 0
    threads: int = 0
    ledger_rows: int = 0
    calls: int = 0
    blobs: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def __bool__(self) -> bool:
        return any(astuple(self))


class Retention:
    """Prunes what is older than a number of days (``store.retention``)."""

    def __init__(self, writer: Writer, reader: Database, clock: Clock) -> None:
        self._writer = writer
        self._reader = reader
        self._clock = clock

    async def prune(self, days: int, *, batch: int = BATCH, pause: float = 0.0) -> Pruned:
        """Delete everything older than ``days`` days, one batch at a time,
        sleeping ``pause`` seconds between batches; return what was deleted.

        Runs still ``running`` are never deleted, however old. Idempotent, and
        safe while runs go on and while other processes prune the same database.
        Raises ValueError for ``days`` below 1.
        """
        if days < 1:
            raise ValueError(f"retention must be at least 1 day, not {days}")
        now = self._clock()
        cutoff = now - timedelta(days=days)
        # Budgets sum each period from its start: keep every record a period in force counts.
        ledger_cutoff = min(cutoff, *(period.start(now) for period in Period))
        total = Pruned()
        while runs := await self._runs(cutoff, batch):
            total += Pruned(runs=runs)
            await asyncio.sleep(pause)
        after: str | None = ""
        while after is not None:
            after, threads = await self._threads(cutoff, after, batch)
            total += Pruned(threads=threads)
            await asyncio.sleep(pause)
        while rows := await self._older("budget_ledger", "run_id", ledger_cutoff, batch):
            total += Pruned(ledger_rows=rows)
            await asyncio.sleep(pause)
        while calls := await self._older("budget_calls", "hold_id", ledger_cutoff, batch):
            total += Pruned(calls=calls)
            await asyncio.sleep(pause)
        while blobs := await self._older("blobs", "digest", cutoff, batch, since="created_at"):
            total += Pruned(blobs=blobs)
            await asyncio.sleep(pause)
        # One row a member, limit and period warned about: few, so one statement.
        await self._writer.write(("DELETE FROM budget_warnings WHERE period_start < ?", (to_db(ledger_cutoff),)))
        return total

    async def keep_pruning(self, days: int, every: float = EVERY) -> None:
        """Prune now and every ``every`` seconds, in the background, until
        cancelled. A failed pruning is logged and tried again next time."""
        while True:
            try:
                pruned = await self.prune(days, pause=PAUSE)
            except Exception:
                log.exception("pruning the audit trail failed; trying again in %.0f s", every)
            else:
                if pruned:
                    log.info("pruned what was older than %d days: %s", days, pruned)
            await asyncio.sleep(every)

    async def _runs(self, cutoff: datetime, batch: int) -> int:
        rows = await self._reader.transact(
            lambda tx: tx.fetchall(
                "SELECT run_id FROM runs WHERE started_at < ? AND status != ? ORDER BY started_at LIMIT ?",
                (to_db(cutoff), StoredStatus.RUNNING, batch),
            )
        )
        ids = [row[0] for row in rows]
        if ids:
            await self._writer.write(*_delete_where_in(("events", "tool_calls", "steps", "runs"), "run_id", ids))
        return len(ids)

    async def _threads(self, cutoff: datetime, after: str, batch: int) -> tuple[str | None, int]:
        """The next ``batch`` conversations after thread ``after`` (in id
        order): drop those idle since before ``cutoff``. Returns the last id
        looked at (None when there is no more) and how many were dropped.
        A thread is idle when its newest message is older than the cutoff
        and, for an agent thread, nothing was handled in it since."""
        stamp = to_db(cutoff)
        rows = await self._reader.transact(
            lambda tx: tx.fetchall(
                "SELECT m.thread_id, MAX(m.created_at) AS newest, MAX(t.active_at) AS active"
                " FROM conversation_messages m LEFT JOIN agent_threads t ON t.thread_id = m.thread_id"
                " WHERE m.thread_id > ? GROUP BY m.thread_id ORDER BY m.thread_id LIMIT ?",
                (after, batch),
            )
        )
        if not rows:
            return None, 0
        idle = [r[0] for r in rows if r["newest"] < stamp and (r["active"] or "") < stamp]
        if idle:
            await self._writer.write(*_delete_where_in(("conversation_messages",), "thread_id", idle))
        return rows[-1][0], len(idle)

    async def _older(self, table: str, key: str, cutoff: datetime, batch: int, since: str = "started_at") -> int:
        """Delete the next ``batch`` rows of ``table`` (a budget table, or
        blobs, by its ``key``) whose ``since`` column is before ``cutoff``."""
        rows = await self._reader.transact(
            lambda tx: tx.fetchall(
                f"SELECT {key} FROM {table} WHERE {since} < ? ORDER BY {since} LIMIT ?",
                (to_db(cutoff), batch),
            )
        )
        ids = [row[0] for row in rows]
        if ids:
            await self._writer.write(*_delete_where_in((table,), key, ids))
        return len(ids)


def _delete_where_in(tables: tuple[str, ...], column: str, ids: list[str]) -> list[Statement]:
    among = placeholders(ids)
    return [(f"DELETE FROM {table} WHERE {column} IN {among}", ids) for table in tables]

