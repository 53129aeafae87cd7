"""What members have spent: sums over the budget ledger and open reservations.

Spend counts in the period its run was admitted in (``started_at``), so a
run that crosses midnight counts once, on the day it started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.clock import to_db
from bot.store.database import Row, Tx
from bot.store.limits import Limit, Limits
from bot.store.periods import Period


@dataclass(frozen=True, slots=True)
class Spent:
    """``runs`` counts admitted runs a member started, running ones included;
    ``tokens`` (input plus output) includes delegated sub-runs;
    ``runtime_seconds`` counts the member's runs (a sub-run's time is inside its parent's);
    ``usd_micros`` is money in micro-dollars, sub-runs included (in a member's
    sums, calls in flight count at what they hold); ``unpriced_calls`` counts
    model calls of unknown cost, which ``usd_micros`` leaves out."""

    runs: int = 0
    tokens: int = 0
    runtime_seconds: float = 0.0
    usd_micros: int = 0
    unpriced_calls: int = 0

    def of(self, limit: Limit) -> float:
        """The sum ``limit`` is checked against (named by ``Limit.spent``)."""
        return float(getattr(self, limit.spent))


@dataclass(frozen=True, slots=True)
class PeriodUsage:
    period: Period
    started_at: datetime
    resets_at: datetime
    spent: Spent


@dataclass(frozen=True, slots=True)
class MemberUsage:
    """A member's usage this day, week and month, their effective limits, and
    how many of their runs are going now."""

    guild_id: str
    member_id: str
    limits: Limits
    running: int
    periods: dict[Period, PeriodUsage]


@dataclass(frozen=True, slots=True)
class Spender:
    member_id: str
    spent: Spent


_LEDGER_SUMS = """
    COUNT(*) FILTER (WHERE parent_run_id = '') AS runs,
    COALESCE(SUM(input_tokens + output_tokens), 0) AS tokens,
    COALESCE(SUM(runtime_seconds) FILTER (WHERE parent_run_id = ''), 0.0) AS runtime_seconds,
    COALESCE(SUM(cost_micros), 0) AS usd_micros,
    COALESCE(SUM(unpriced_calls), 0) AS unpriced_calls
"""


async def spent_since(tx: Tx, guild_id: str, member_id: str, since: datetime) -> Spent:
    """A member's spend from ``since`` on: the ledger plus open reservations
    (each a run, with no tokens or time known yet); money from the model
    calls themselves (``budget_calls``), so calls of runs still going count,
    a call in flight at what it holds.

    One statement, so one snapshot: a commit moving a run from reservation
    to ledger meanwhile is seen whole or not at all (on PostgreSQL, each
    statement of a transaction sees what committed before it began)."""
    key = (guild_id, member_id, to_db(since))
    # One pass over each table: the model calls' two sums share one scan.
    row = await tx.fetchone(
        "SELECT l.runs + r.reserved AS runs, l.tokens, l.runtime_seconds, c.held_micros, c.unpriced"
        f" FROM (SELECT {_LEDGER_SUMS} FROM budget_ledger{_MEMBER_SINCE}) AS l,"
        f" (SELECT COUNT(*) AS reserved FROM budget_reservations{_MEMBER_SINCE} AND parent_run_id = '') AS r,"
        " (SELECT COALESCE(SUM(COALESCE(cost_micros, held_micros)), 0) AS held_micros,"
        "  COUNT(*) FILTER (WHERE settled = 1 AND cost_micros IS NULL) AS unpriced"
        f"  FROM budget_calls{_MEMBER_SINCE}) AS c",
        (*key, *key, *key),
    )
    assert row is not None  # aggregates always have their row
    return Spent(row["runs"], row["tokens"], row["runtime_seconds"], row["held_micros"], row["unpriced"])


#: One member's rows from a time on, in any of the budget tables.
_MEMBER_SINCE = " WHERE guild_id = ? AND member_id = ? AND started_at >= ?"


async def running(tx: Tx, guild_id: str, member_id: str) -> int:
    """How many of a member's runs hold a reservation now (sub-runs excluded)."""
    row = await tx.fetchone(
        "SELECT COUNT(*) FROM budget_reservations WHERE guild_id = ? AND member_id = ? AND parent_run_id = ''",
        (guild_id, member_id),
    )
    return int(row[0]) if row is not None else 0


async def top_spenders(tx: Tx, guild_id: str, since: datetime, limit: int) -> list[Spender]:
    """Members of a guild by committed money, then tokens, since ``since``, most first."""
    rows = await tx.fetchall(
        f"SELECT member_id, {_LEDGER_SUMS} FROM budget_ledger WHERE guild_id = ? AND started_at >= ?"
        " GROUP BY member_id ORDER BY usd_micros DESC, tokens DESC, runs DESC, member_id LIMIT ?",
        (guild_id, to_db(since), limit),
    )
    return [Spender(r["member_id"], _spent(r)) for r in rows]


def _spent(row: Row) -> Spent:
    return Spent(row["runs"], row["tokens"], row["runtime_seconds"], row["usd_micros"], row["unpriced_calls"])
