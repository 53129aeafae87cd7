"""The Budget port on the store, and the admin API for limits and usage.

Every operation is one synchronous function run on the budget's own
connection (``SerialConnection``): a check-and-reserve is a single hop off
the event loop, and it either happens whole or not at all.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from bot.store import ledger
from bot.store.audit import StoreAudit
from bot.store.clock import Clock, to_db
from bot.store.ledger import MemberUsage, PeriodUsage, Spender, Spent
from bot.store.limits import Limits, limits_from_row
from bot.store.periods import Period
from bot.store.serial import SerialConnection, transaction
from executor import BudgetExceeded, Spend

if TYPE_CHECKING:
    from executor.tools import Invocation

log = logging.getLogger(__name__)


class StoreBudget:
    """Per-member limits, enforced by reserving a run before it starts.

    ``check`` runs under ``BEGIN IMMEDIATE`` on a connection of its own, so
    concurrent checks (in this process or another) are serialized: the
    counts it reads cannot change before its reservation is written. A second
    ``check`` of an admitted run is a no-op. ``commit`` moves a run from
    reservation to ledger exactly once; a second ``commit`` is a no-op.
    """

    def __init__(self, conn: SerialConnection, audit: StoreAudit, clock: Clock, owner_id: str) -> None:
        self._conn = conn
        self._audit = audit
        self._clock = clock
        #: Recorded on reservations, so recovery releases only a gone process's (owners.py).
        self._owner_id = owner_id

    async def check(self, invocation: Invocation, agent_id: str) -> None:
        """Reserve the run, or raise BudgetExceeded with a message for the
        member (which limit, the numbers, when it resets). A refusal is also
        recorded in the audit, for admins."""
        refusal = await self._conn.call(_check, invocation, agent_id, self._owner_id, self._clock())
        if refusal is None:
            return
        try:
            await self._audit.record_rejection(invocation, agent_id, refusal)
        except Exception:  # the refusal stands even when recording it fails
            log.exception("budget: could not record the refusal of run %s", invocation.run_id)
        raise BudgetExceeded(refusal)

    async def commit(self, invocation: Invocation, spend: Spend) -> None:
        """Write the run's real spend to the ledger and release its
        reservation. The spend counts in the period the run was admitted in
        (now, if the reservation is gone)."""
        await self._conn.call(_commit, invocation, spend, to_db(self._clock()))

    # -- admin ------------------------------------------------------------

    async def set_limits(self, guild_id: str, member_id: str | None, **changes: object) -> Limits:
        """Change some limits of a member (``None``: the guild default) and
        return the row as stored. A field passed as ``None`` is cleared;
        fields not passed keep their value. Raises ValueError for a bad value
        (and writes nothing)."""
        return await self._conn.call(_set_limits, guild_id, member_id or "", changes, to_db(self._clock()))

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
) -> str | None:
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


def _set_limits(conn: sqlite3.Connection, guild_id: str, member_id: str, changes: dict[str, object], now: str) -> Limits:
    with transaction(conn, "IMMEDIATE"):
        limits = _row(conn, guild_id, member_id).with_changes(changes)
        conn.execute(
            "INSERT OR REPLACE INTO budget_limits (guild_id, member_id, max_runs, runs_period, max_tokens,"
            " tokens_period, max_runtime_seconds, runtime_period, max_concurrent, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                member_id,
                limits.max_runs,
                limits.runs_period,
                limits.max_tokens,
                limits.tokens_period,
                limits.max_runtime_seconds,
                limits.runtime_period,
                limits.max_concurrent,
                now,
            ),
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
) -> str | None:
    """Why a run may not start now, in words for the member; None if it may.

    A run needs one run left, tokens and runtime not used up, and a free
    concurrent slot. Sub-runs are gated on tokens and runtime only: the run
    that delegated them already holds the member's run and slot.
    """
    spent: dict[Period, Spent] = {}

    def used(period: Period) -> Spent:
        if period not in spent:
            spent[period] = ledger.spent_since(conn, guild_id, member_id, period.start(now))
        return spent[period]

    if top_level and limits.max_runs is not None:
        period = limits.period("runs_period")
        runs = used(period).runs
        if runs + 1 > limits.max_runs:
            return _used_up(runs, limits.max_runs, "runs", period, now)
    if limits.max_tokens is not None:
        period = limits.period("tokens_period")
        tokens = used(period).tokens
        if tokens >= limits.max_tokens:
            return _used_up(tokens, limits.max_tokens, "tokens", period, now)
    if limits.max_runtime_seconds is not None:
        period = limits.period("runtime_period")
        seconds = used(period).runtime_seconds
        if seconds >= limits.max_runtime_seconds:
            return _used_up(seconds, limits.max_runtime_seconds, "seconds of run time", period, now)
    if top_level and limits.max_concurrent is not None:
        going = ledger.running(conn, guild_id, member_id)
        if limits.max_concurrent == 0:
            return "Your limit here is 0 runs at once, so you cannot start runs; ask a server admin."
        if going >= limits.max_concurrent:
            return (
                f"You already have {going} of {limits.max_concurrent} runs going at once; "
                "wait for one to finish, then try again."
            )
    return None


def _used_up(used: float, limit: float, noun: str, period: Period, now: datetime) -> str:
    if limit == 0:
        return f"Your limit here is 0 {noun} per {period}, so you cannot start runs; ask a server admin."
    reset = period.next_start(now)
    return (
        f"You have used {_amount(used)} of {_amount(limit)} {noun} this {period}; "
        f"resets at 00:00 UTC on {reset:%a} {reset.day} {reset:%b}."
    )


def _amount(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or value >= 100 else f"{value:,.1f}"
