"""The Budget port on the store, and the admin API for limits and usage.

Every operation is one synchronous function run on the budget's own
connection (``SerialConnection``): a check-and-reserve is a single hop off
the event loop, and it either happens whole or not at all.

A refusal is data (``Refusal``: which limit, the numbers, when it resets),
raised as ``BudgetRefused``; the host words it for the member, and the
executor records it through the Audit port. The budget writes no audit rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.store import ledger
from bot.store.clock import Clock, to_db
from bot.store.ledger import MemberUsage, PeriodUsage, Spender, Spent
from bot.store.limits import (
    Limit,
    LimitChange,
    Limits,
    amount_text,
    limit_columns,
    limits_from_row,
    limits_row,
)
from bot.store.periods import Period
from bot.store.serial import SerialConnection, transaction
from executor import BudgetExceeded, Spend

if TYPE_CHECKING:
    from executor.tools import Invocation


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a run may not start: ``limit`` is used up, ``used`` of ``allowed``.
    A per-period limit has its ``period`` and when it resets; the concurrent
    limit has neither (``used`` is the runs going now)."""

    limit: Limit
    used: float
    allowed: float
    period: Period | None = None
    resets_at: datetime | None = None

    def record(self) -> str:
        """A plain record of the refusal, for the audit and logs (members read
        the host's wording of it instead)."""
        per = f" per {self.period}" if self.period else ""
        resets = f", resets {self.resets_at:%Y-%m-%d %H:%M} UTC" if self.resets_at else ""
        return f"{self.limit.key} limit reached: {amount_text(self.used)} of {amount_text(self.allowed)}{per}{resets}"


class BudgetRefused(BudgetExceeded):
    """The budget gate's refusal, with its ``Refusal``."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.record())
        self.refusal = refusal


class StoreBudget:
    """Per-member limits, enforced by reserving a run before it starts.

    ``check`` runs under ``BEGIN IMMEDIATE`` on a connection of its own, so
    concurrent checks (in this process or another) are serialized: the
    counts it reads cannot change before its reservation is written. A second
    ``check`` of an admitted run is a no-op. ``commit`` moves a run from
    reservation to ledger exactly once; a second ``commit`` is a no-op.
    """

    def __init__(self, conn: SerialConnection, clock: Clock, owner_id: str) -> None:
        self._conn = conn
        self._clock = clock
        #: Recorded on reservations, so recovery releases only a gone process's (owners.py).
        self._owner_id = owner_id

    async def check(self, invocation: Invocation, agent_id: str) -> None:
        """Reserve the run, or raise BudgetRefused with its Refusal."""
        refusal = await self._conn.call(_check, invocation, agent_id, self._owner_id, self._clock())
        if refusal is not None:
            raise BudgetRefused(refusal)

    async def commit(self, invocation: Invocation, spend: Spend) -> None:
        """Write the run's real spend to the ledger and release its
        reservation. The spend counts in the period the run was admitted in
        (now, if the reservation is gone)."""
        await self._conn.call(_commit, invocation, spend, to_db(self._clock()))

    # -- admin ------------------------------------------------------------

    async def set_limits(self, guild_id: str, member_id: str | None, changes: Sequence[LimitChange]) -> Limits:
        """Apply ``changes`` to the limits of a member (``None``: the guild
        default) and return the row as stored; limits not changed keep their
        value. Raises InvalidLimit for a bad amount (and writes nothing)."""
        return await self._conn.call(_set_limits, guild_id, member_id or "", tuple(changes), to_db(self._clock()))

    async def get_limits(self, guild_id: str, member_id: str | None) -> Limits:
        """The limits set on a member (``None``: the guild default) alone; all
        unset when there is no row."""
        return await self._conn.call(_row, guild_id, member_id or "")

    async def effective_limits(self, guild_id: str, member_id: str) -> Limits:
        """The limits ``check`` applies to a member: theirs over the guild default."""
        return await self._conn.call(_effective, guild_id, member_id)

    async def reset(self, guild_id: str, member_id: str | None) -> bool:
        """Clear a member's limits (``None``: the guild default); True if there were any."""
        return await self._conn.call(_reset, guild_id, member_id or "")

    async def usage(self, guild_id: str, member_id: str) -> MemberUsage:
        """A member's usage this day, week and month (running runs count as
        runs), with their effective limits."""
        return await self._conn.call(_usage, guild_id, member_id, self._clock())

    async def top_spenders(self, guild_id: str, period: Period, limit: int = 10) -> list[Spender]:
        """The guild's members by tokens committed in the current ``period``, most first."""
        return await self._conn.call(ledger.top_spenders, guild_id, period.start(self._clock()), limit)


# -- in the budget connection's thread ------------------------------------


def _check(
    conn: sqlite3.Connection, invocation: Invocation, agent_id: str, owner_id: str, now: datetime
) -> Refusal | None:
    guild_id, member_id = invocation.guild_id, invocation.caller_id
    with transaction(conn, "IMMEDIATE"):
        admitted = conn.execute("SELECT 1 FROM budget_reservations WHERE run_id = ?", (invocation.run_id,)).fetchone()
        if admitted is not None:
            return None
        limits = _effective(conn, guild_id, member_id)
        refusal = _refusal(conn, limits, guild_id, member_id, now, top_level=not invocation.parent_run_id)
        if refusal is None:
            conn.execute(
                "INSERT INTO budget_reservations (run_id, guild_id, member_id, agent_id, parent_run_id, started_at,"
                " owner_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (invocation.run_id, guild_id, member_id, agent_id, invocation.parent_run_id, to_db(now), owner_id),
            )
    return refusal


def _commit(conn: sqlite3.Connection, invocation: Invocation, spend: Spend, now: str) -> None:
    usage = spend.usage
    with transaction(conn, "IMMEDIATE"):
        reservation = conn.execute(
            "SELECT agent_id, started_at FROM budget_reservations WHERE run_id = ?", (invocation.run_id,)
        ).fetchone()
        conn.execute(
            "INSERT OR IGNORE INTO budget_ledger (run_id, guild_id, member_id, agent_id, parent_run_id, status,"
            " started_at, committed_at, runtime_seconds, input_tokens, output_tokens, reasoning_tokens,"
            " cached_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                invocation.run_id,
                invocation.guild_id,
                invocation.caller_id,
                reservation["agent_id"] if reservation is not None else "",
                invocation.parent_run_id,
                spend.status,
                reservation["started_at"] if reservation is not None else now,
                now,
                spend.runtime_seconds,
                usage.input_tokens,
                usage.output_tokens,
                usage.reasoning_tokens,
                usage.cached_tokens,
            ),
        )
        conn.execute("DELETE FROM budget_reservations WHERE run_id = ?", (invocation.run_id,))


def _set_limits(
    conn: sqlite3.Connection, guild_id: str, member_id: str, changes: tuple[LimitChange, ...], now: str
) -> Limits:
    with transaction(conn, "IMMEDIATE"):
        limits = _row(conn, guild_id, member_id).changed(changes)
        columns = limit_columns()
        conn.execute(
            f"INSERT OR REPLACE INTO budget_limits (guild_id, member_id, {', '.join(columns)}, updated_at)"
            f" VALUES (?, ?, {', '.join('?' * len(columns))}, ?)",
            (guild_id, member_id, *limits_row(limits), now),
        )
    return limits


def _reset(conn: sqlite3.Connection, guild_id: str, member_id: str) -> bool:
    with transaction(conn, "IMMEDIATE"):
        cursor = conn.execute("DELETE FROM budget_limits WHERE guild_id = ? AND member_id = ?", (guild_id, member_id))
        return cursor.rowcount > 0


def _usage(conn: sqlite3.Connection, guild_id: str, member_id: str, now: datetime) -> MemberUsage:
    with transaction(conn):
        limits = _effective(conn, guild_id, member_id)
        going = ledger.running(conn, guild_id, member_id)
        periods: dict[Period, PeriodUsage] = {}
        for p in Period:
            start = p.start(now)
            periods[p] = PeriodUsage(p, start, p.next_start(now), ledger.spent_since(conn, guild_id, member_id, start))
    return MemberUsage(guild_id, member_id, limits, going, periods)


def _row(conn: sqlite3.Connection, guild_id: str, member_id: str) -> Limits:
    row = conn.execute(
        "SELECT * FROM budget_limits WHERE guild_id = ? AND member_id = ?", (guild_id, member_id)
    ).fetchone()
    return limits_from_row(row)


def _effective(conn: sqlite3.Connection, guild_id: str, member_id: str) -> Limits:
    member = _row(conn, guild_id, member_id) if member_id else Limits()
    return member.over(_row(conn, guild_id, ""))


def _refusal(
    conn: sqlite3.Connection, limits: Limits, guild_id: str, member_id: str, now: datetime, *, top_level: bool
) -> Refusal | None:
    """Why a run may not start now; None if it may.

    A run needs every limit not used up: a run left, tokens and runtime not
    spent, a free concurrent slot. Sub-runs are gated only by the limits
    marked ``sub_runs`` (the run that delegated them holds the member's run
    and slot). A run being checked is not counted yet, so ``used >= allowed``
    refuses it.
    """
    spent: dict[Period, Spent] = {}
    for limit in Limit:
        allowed = limits.amount(limit)
        if allowed is None or not (top_level or limit.sub_runs):
            continue
        if not limit.per_period:
            going = ledger.running(conn, guild_id, member_id)
            if going >= allowed:
                return Refusal(limit, going, allowed)
            continue
        period = limits.period(limit)
        if period not in spent:
            spent[period] = ledger.spent_since(conn, guild_id, member_id, period.start(now))
        used = spent[period].of(limit)
        if used >= allowed:
            return Refusal(limit, used, allowed, period, period.next_start(now))
    return None
