"""Owners on PostgreSQL: leases the live processes renew.

Each process holds a row in ``owner_leases`` under its EXECUTOR_ID, with an
``expires_at`` it pushes forward every ``lease / 4`` seconds in the
background. An owner is gone when its lease has expired, or it has no lease
at all; recovery (``claim_gone``) then takes over its runs. All times are
the database server's clock (``now()``), so the machines' clocks need not
agree.

Why leases rather than session advisory locks (``pg_try_advisory_lock``
held by a connection kept open for the process's life). A session lock is
freed the moment its connection drops, and the process is not told:

- a server restart, a failover, or a network blip frees every owner's lock
  at once, and the next process to start takes over the runs of processes
  that are alive and still writing them;
- a pooler in transaction mode (PgBouncer) does not keep a session's locks
  at all;
- nothing is visible: which processes are live cannot be queried.

A lease rides out all three: it is a row, it survives a restart, it needs
no session, and ``SELECT * FROM owner_leases`` shows who is live. Its cost
is the wait: a killed process's runs are taken over only once its lease
expires (``LEASE_SECONDS``), and a process that stalls longer than that
(a frozen VM) loses its runs. When a renewal finds the lease lapsed, the
process says so in the log and takes a new one; runs recovered meanwhile
stay interrupted, and their spend counts once (the budget's ledger keeps
the first record of a run).

A process restarted under the same EXECUTOR_ID after being killed waits
for its old lease to expire (``hold``), then recovers its own runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection

from bot.store.database import Database, Tx
from bot.store.errors import StoreOpenError
from bot.store.owners import check_executor_id

log = logging.getLogger(__name__)

#: How long a lease lasts without renewal: how soon a killed process's runs
#: are taken over, and how long a process may stall before it loses them.
LEASE_SECONDS = 20.0
#: How much longer than a lease ``hold`` waits for one of its id to expire.
HOLD_GRACE = 5.0
#: Polling while ``hold`` waits.
_POLL = 0.25


class OwnerLeases:
    """This process's lease, and the test of other owners' leases."""

    def __init__(self, db: Database, owner_id: str, lease_seconds: float = LEASE_SECONDS) -> None:
        self.owner_id = check_executor_id(owner_id)
        self.lease_seconds = lease_seconds
        self._db = db
        self._renewing: asyncio.Task[None] | None = None

    async def hold(self, wait: float | None = None) -> None:
        """Take this process's lease, then renew it until ``release``.

        StoreOpenError when a live process holds the same id for ``wait``
        seconds (default: one lease and a bit, long enough for the lease of
        a killed process with this id to expire)."""
        deadline = asyncio.get_running_loop().time() + (self.lease_seconds + HOLD_GRACE if wait is None else wait)
        while not await self._db.transact(self._take):
            if asyncio.get_running_loop().time() >= deadline:
                raise StoreOpenError(
                    f"EXECUTOR_ID {self.owner_id!r} is in use by another process on this database "
                    "(its lease in owner_leases is live): give each process its own EXECUTOR_ID"
                )
            await asyncio.sleep(_POLL)
        self._renewing = asyncio.get_running_loop().create_task(self._renew(), name="store-owner-lease")

    async def release(self) -> None:
        """Stop renewing and drop the lease. Idempotent."""
        task, self._renewing = self._renewing, None
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self._db.transact(self._drop)

    @contextlib.asynccontextmanager
    async def claim_gone(self, tx: Tx, owner_ids: Collection[str]) -> AsyncIterator[frozenset[str]]:
        """Owners.claim_gone. The gone owners' lease rows (created, expired,
        for owners that have none) are locked until ``tx`` commits, so an
        owner coming back waits in ``hold``; they are deleted on the way, as
        are other expired leases. This process's own id counts as gone (runs
        under it are a previous process's with the same EXECUTOR_ID), as do
        ids no process could hold."""
        candidates = sorted(set(owner_ids))
        if candidates:
            await tx.executemany(
                "INSERT INTO owner_leases (owner_id, started_at, expires_at)"
                " VALUES (?, '-infinity', '-infinity') ON CONFLICT (owner_id) DO NOTHING",
                [(owner_id,) for owner_id in candidates],
            )
        rows = await tx.fetchall(
            "SELECT owner_id FROM owner_leases WHERE owner_id = ANY(?) AND (expires_at < now() OR owner_id = ?)"
            " ORDER BY owner_id FOR UPDATE",
            (candidates, self.owner_id),
        )
        gone = frozenset(row[0] for row in rows)
        yield gone
        await tx.execute(
            "DELETE FROM owner_leases WHERE owner_id != ? AND (owner_id = ANY(?) OR expires_at < now())",
            (self.owner_id, sorted(gone)),
        )

    async def _take(self, tx: Tx) -> bool:
        """The lease, if no live process has it (a fresh row, or an expired one)."""
        return bool(
            await tx.execute(
                "INSERT INTO owner_leases (owner_id, started_at, expires_at)"
                " VALUES (?, now(), now() + make_interval(secs => ?)) ON CONFLICT (owner_id) DO UPDATE"
                " SET started_at = excluded.started_at, expires_at = excluded.expires_at"
                " WHERE owner_leases.expires_at < now()",
                (self.owner_id, self.lease_seconds),
            )
        )

    async def _extend(self, tx: Tx) -> bool:
        """Push the lease forward; False when it had lapsed (or was taken over)."""
        return bool(
            await tx.execute(
                "UPDATE owner_leases SET expires_at = now() + make_interval(secs => ?)"
                " WHERE owner_id = ? AND expires_at >= now()",
                (self.lease_seconds, self.owner_id),
            )
        )

    async def _drop(self, tx: Tx) -> None:
        await tx.execute("DELETE FROM owner_leases WHERE owner_id = ?", (self.owner_id,))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 4)
            try:
                if await self._db.transact(self._extend):
                    continue
                log.error(
                    "store: the lease of %s had lapsed (this process stalled, or lost the database for longer"
                    " than %g s); another process may have taken over its runs. Taking a new lease.",
                    self.owner_id,
                    self.lease_seconds,
                )
                if not await self._db.transact(self._take):
                    log.error("store: another live process holds EXECUTOR_ID %s", self.owner_id)
            except Exception:  # the server may come back before the lease runs out
                log.warning("store: could not renew the lease of %s; retrying", self.owner_id, exc_info=True)
