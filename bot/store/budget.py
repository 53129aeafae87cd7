"""The Budget port on the store, and the admin API for limits and usage."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from executor.errors import BudgetExceeded
from executor.ports import Spend

from bot.store import ledger
from bot.store.audit import StoreAudit
from bot.store.clock import Clock, to_db
from bot.store.connection import SharedConnection
from bot.store.ledger import MemberUsage, PeriodUsage, Spender, Spent
from bot.store.limits import Limits, limits_from_row
from bot.store.periods import Period

if TYPE_CHECKING:
    import aiosqlite
    from executor.tools.invocation import Invocation

log = logging.getLogger(__name__)


class StoreBudget:
    """Per-member limits, enforced by reserving a run before it starts.

    ``check`` runs under ``BEGIN IMMEDIATE`` on a connection of its own, so
    concurrent checks (in this process or another) are serialized: the
    counts it reads cannot change before its reservation is written. A second
    ``check`` of an admitted run is a no-op. ``commit`` moves a run from
    reservation to ledger exactly once; a second ``commit`` is a no-op.
    """

    def __init__(self, conn: SharedConnection, reader: SharedConnection, audit: StoreAudit, clock: Clock) -> None:
        self._conn = conn
        self._reader = reader
        self._audit = audit
        self._clock = clock

    async def check(self, invocation: Invocation, agent_id: str) -> None:
        """Reserve the run, or raise BudgetExceeded with a message for the
        member (which limit, the numbers, when it resets). A refusal is also
        recorded in the audit, for admins."""
        guild_id, member_id = invocation.guild_id, invocation.caller_id
        now = self._clock()
        refusal: str | None = None
        async with self._conn.transaction("IMMEDIATE") as conn:
            async with conn.execute(
                "SELECT 1 FROM budget_reservations WHERE run_id = ?", (invocation.run_id,)
            ) as cursor:
                if await cursor.fetchone() is not None:
                    return
            limits = await _effective(conn, guild_id, member_id)
            refusal = await _refusal(conn, limits, guild_id, member_id, now, top_level=not invocation.parent_run_id)
            if refusal is None:
                await conn.execute(
                    "INSERT INTO budget_reservations (run_id, guild_id, member_id, agent_id, parent_run_id, started_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (invocation.run_id, guild_id, member_id, agent_id, invocation.parent_run_id, to_db(now)),
                )
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
        now = to_db(self._clock())
        usage = spend.usage
        async with self._conn.transaction("IMMEDIATE") as conn:
            async with conn.execute(
                "SELECT agent_id, started_at FROM budget_reservations WHERE run_id = ?", (invocation.run_id,)
            ) as cursor:
                reservation = await cursor.fetchone()
            await conn.execute(
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
            await conn.execute("DELETE FROM budget_reservations WHERE run_id = ?", (invocation.run_id,))

    # -- admin ------------------------------------------------------------

    async def set_limits(self, guild_id: str, member_id: str | None, **changes: object) -> Limits:
        """Change some limits of a member (``None``: the guild default) and
        return the row as stored. A field passed as ``None`` is cleared;
        fields not passed keep their value. Raises ValueError for a bad value
        (and writes nothing)."""
        async with self._conn.transaction("IMMEDIATE") as conn:
            limits = (await _row(conn, guild_id, member_id or "")).with_changes(changes)
            await conn.execute(
                "INSERT OR REPLACE INTO budget_limits (guild_id, member_id, max_runs, runs_period, max_tokens,"
                " tokens_period, max_runtime_seconds, runtime_period, max_concurrent, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    member_id or "",
                    limits.max_runs,
                    limits.runs_period,
                    limits.max_tokens,
                    limits.tokens_period,
                    limits.max_runtime_seconds,
                    limits.runtime_period,
                    limits.max_concurrent,
                    to_db(self._clock()),
                ),
            )
        return limits

    async def get_limits(self, guild_id: str, member_id: str | None) -> Limits:
        """The limits set on a member (``None``: the guild default) alone; all
        unset when there is no row."""
        async with self._reader.transaction() as conn:
            return await _row(conn, guild_id, member_id or "")

    async def effective_limits(self, guild_id: str, member_id: str) -> Limits:
        """The limits ``check`` applies to a member: theirs over the guild default."""
        async with self._reader.transaction() as conn:
            return await _effective(conn, guild_id, member_id)

    async def reset(self, guild_id: str, member_id: str | None) -> bool:
        """Clear a member's limits (``None``: the guild default); True if there were any."""
        async with self._conn.transaction("IMMEDIATE") as conn:
            cursor = await conn.execute(
                "DELETE FROM budget_limits WHERE guild_id = ? AND member_id = ?", (guild_id, member_id or "")
            )
            return cursor.rowcount > 0

    async def usage(self, guild_id: str, member_id: str) -> MemberUsage:
        """A member's usage this day, week and month (running runs count as
        runs), with their effective limits."""
        now = self._clock()
        async with self._reader.transaction() as conn:
            limits = await _effective(conn, guild_id, member_id)
            going = await ledger.running(conn, guild_id, member_id)
            periods: dict[Period, PeriodUsage] = {}
            for p in Period:
                start = p.start(now)
                spent = await ledger.spent_since(conn, guild_id, member_id, start)
                periods[p] = PeriodUsage(p, start, p.next_start(now), spent)
        return MemberUsage(guild_id, member_id, limits, going, periods)

    async def top_spenders(self, guild_id: str, period: Period, limit: int = 10) -> list[Spender]:
        """The guild's members by tokens committed in the current ``period``, most first."""
        async with self._reader.transaction() as conn:
            return await ledger.top_spenders(conn, guild_id, period.start(self._clock()), limit)


async def _row(conn: aiosqlite.Connection, guild_id: str, member_id: str) -> Limits:
    async with conn.execute(
        "SELECT * FROM budget_limits WHERE guild_id = ? AND member_id = ?", (guild_id, member_id)
    ) as cursor:
        return limits_from_row(await cursor.fetchone())


async def _effective(conn: aiosqlite.Connection, guild_id: str, member_id: str) -> Limits:
    member = await _row(conn, guild_id, member_id) if member_id else Limits()
    return member.over(await _row(conn, guild_id, ""))


async def _refusal(
    conn: aiosqlite.Connection, limits: Limits, guild_id: str, member_id: str, now: datetime, *, top_level: bool
) -> str | None:
    """Why a run may not start now, in words for the member; None if it may.

    A run needs one run left, tokens and runtime not used up, and a free
    concurrent slot. Sub-runs are gated on tokens and runtime only: the run
    that delegated them already holds the member's run and slot.
    """
    spent: dict[Period, Spent] = {}

    async def used(period: Period) -> Spent:
        if period not in spent:
            spent[period] = await ledger.spent_since(conn, guild_id, member_id, period.start(now))
        return spent[period]

    if top_level and limits.max_runs is not None:
        period = limits.period("runs_period")
        runs = (await used(period)).runs
        if runs + 1 > limits.max_runs:
            return _used_up(runs, limits.max_runs, "runs", period, now)
    if limits.max_tokens is not None:
        period = limits.period("tokens_period")
        tokens = (await used(period)).tokens
        if tokens >= limits.max_tokens:
            return _used_up(tokens, limits.max_tokens, "tokens", period, now)
    if limits.max_runtime_seconds is not None:
        period = limits.period("runtime_period")
        seconds = (await used(period)).runtime_seconds
        if seconds >= limits.max_runtime_seconds:
            return _used_up(seconds, limits.max_runtime_seconds, "seconds of run time", period, now)
    if top_level and limits.max_concurrent is not None:
        going = await ledger.running(conn, guild_id, member_id)
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
