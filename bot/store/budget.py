"""The Budget port on the store, and the admin API for limits and usage.

Every operation is one transaction body run on the budget's own way into
the database (see database.py): a check-and-reserve either happens whole or
not at all, and one member's checks are serialised across processes and
machines (``member_key``) while other members' go on.

A refusal is data (``Refusal``: which limit, the numbers, when it resets),
raised as ``BudgetRefused``; the host words it for the member, and the
executor records it through the Audit port. The budget writes no audit rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.store import ledger
from bot.store.clock import Clock, to_db
from bot.store.database import Database, Tx, placeholders
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
from bot.store.scopes import fixed_limits
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
    #: A model call refused mid-run (calls.py): what it would have held.
    needed: float = 0
    #: A model call refused because its model has no known price (and a USD limit applies).
    unpriced_model: str = ""
    #: A limit of the member's personal scope (DMs), set by the operator, not an admin.
    personal: bool = False

    def record(self) -> str:
        """A plain record of the refusal, for the audit and logs (members read
        the host's wording of it instead)."""
        per = f" per {self.period}" if self.period else ""
        resets = f", resets {self.resets_at:%Y-%m-%d %H:%M} UTC" if self.resets_at else ""
        if self.unpriced_model:
            return f"{self.limit.key} limit applies and model {self.unpriced_model!r} has no known price"
        needs = f", the next model call needs up to {amount_text(self.needed)}" if self.needed else ""
        used, allowed = amount_text(self.used), amount_text(self.allowed)
        return f"{self.limit.key} limit reached: {used} of {allowed}{per}{needs}{resets}"


@dataclass(frozen=True, slots=True)
class LimitUse:
    """What a member has used of one limit: this ``period``'s spend, or for
    runs at once (no period) the runs going now."""

    limit: Limit
    used: float
    allowed: float
    period: Period | None = None
    resets_at: datetime | None = None

    @property
    def percent(self) -> float:
        """``used`` as a percentage of ``allowed`` (100 for a limit of 0)."""
        return 100.0 * self.used / self.allowed if self.allowed > 0 else 100.0


class BudgetRefused(BudgetExceeded):
    """The budget gate's refusal, with its ``Refusal``."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.record())
        self.refusal = refusal


class StoreBudget:
    """Per-member limits, enforced by reserving a run before it starts.

    ``check`` is a write transaction keyed on the member (``BEGIN IMMEDIATE``
    on SQLite, an advisory lock on PostgreSQL), so concurrent checks of one
    member (in this process or another) are serialized: the counts it reads
    cannot change before its reservation is written. A second
    ``check`` of an admitted run is a no-op. ``commit`` moves a run from
    reservation to ledger exactly once; a second ``commit`` is a no-op.
    """

    def __init__(self, db: Database, clock: Clock, owner_id: str, personal: Limits | None = None) -> None:
        self._db = db
        self._clock = clock
        #: Recorded on reservations, so recovery releases only a gone process's (owners.py).
        self._owner_id = owner_id
        #: Every member's limits in PERSONAL_SCOPE: the operator's settings, no table row.
        self._personal = personal or Limits()

    def _fixed(self, guild_id: str) -> Limits | None:
        return fixed_limits(guild_id, self._personal)

    async def check(self, invocation: Invocation, agent_id: str) -> None:
        """Reserve the run, or raise BudgetRefused with its Refusal."""
        now = self._clock()
        refusal = await self._db.transact(
            lambda tx: _check(tx, invocation, agent_id, self._owner_id, now, self._fixed(invocation.guild_id)),
            write=True,
            key=member_key(invocation.guild_id, invocation.caller_id),
        )
        if refusal is not None:
            raise BudgetRefused(refusal)

    async def commit(self, invocation: Invocation, spend: Spend) -> None:
        """Write the run's real spend to the ledger and release its
        reservation. The spend counts in the period the run was admitted in
        (now, if the reservation is gone)."""
        now = to_db(self._clock())
        await self._db.transact(
            lambda tx: _commit(tx, invocation, spend, now),
            write=True,
            key=member_key(invocation.guild_id, invocation.caller_id),
        )

    # -- admin ------------------------------------------------------------

    async def set_limits(self, guild_id: str, member_id: str | None, changes: Sequence[LimitChange]) -> Limits:
        """Apply ``changes`` to the limits of a member (``None``: the guild
        default) and return the row as stored; limits not changed keep their
        value. Raises InvalidLimit for a bad amount (and writes nothing)."""
        member, now, changing = member_id or "", to_db(self._clock()), tuple(changes)
        return await self._db.transact(
            lambda tx: _set_limits(tx, guild_id, member, changing, now), write=True, key=member_key(guild_id, member)
        )

    async def get_limits(self, guild_id: str, member_id: str | None) -> Limits:
        """The limits set on a member (``None``: the guild default) alone; all
        unset when there is no row."""
        return await self._db.transact(lambda tx: _row(tx, guild_id, member_id or ""))

    async def effective_limits(self, guild_id: str, member_id: str, roles: Sequence[str] = ()) -> Limits:
        """The limits ``check`` applies to a member with these role ids (see ``effective``)."""
        fixed = self._fixed(guild_id)
        if fixed is not None:
            return fixed
        return await self._db.transact(lambda tx: effective(tx, guild_id, member_id, roles))

    async def reset(self, guild_id: str, member_id: str | None) -> bool:
        """Clear a member's limits (``None``: the guild default); True if there were any."""
        return await self._db.transact(lambda tx: _reset(tx, guild_id, member_id or ""), write=True)

    async def usage(self, guild_id: str, member_id: str, roles: Sequence[str] = ()) -> MemberUsage:
        """A member's usage this day, week and month (running runs count as
        runs), with their effective limits."""
        now = self._clock()
        fixed = self._fixed(guild_id)
        return await self._db.transact(lambda tx: _usage(tx, guild_id, member_id, roles, now, fixed))

    async def standing(self, guild_id: str, member_id: str, roles: Sequence[str] = ()) -> list[LimitUse]:
        """What a member with these role ids has used of each per-period limit (above 0) this period."""
        now = self._clock()
        fixed = self._fixed(guild_id)
        return await self._db.transact(lambda tx: _standing(tx, guild_id, member_id, roles, now, fixed))

    async def claim_warnings(
        self, guild_id: str, member_id: str, roles: Sequence[str], percent: float
    ) -> list[LimitUse]:
        """The limits a member has used ``percent`` % or more of and was not
        warned about yet this period, now marked warned: each limit is
        claimed once per member and period, by one caller of any process."""
        now = self._clock()
        return await self._db.transact(
            lambda tx: _claim_warnings(tx, guild_id, member_id, roles, percent, now, self._fixed(guild_id)),
            write=True,
            key=member_key(guild_id, member_id),
        )

    async def near_limits(
        self, guild_id: str, roles_of: Mapping[str, Sequence[str]], percent: float
    ) -> list[tuple[str, LimitUse]]:
        """Members who spent in a period in force and have used ``percent`` %
        or more of a limit, fullest first; ``roles_of`` maps member ids to
        their role ids (members not in it are taken to have none)."""
        now = self._clock()
        return await self._db.transact(lambda tx: _near_limits(tx, guild_id, roles_of, percent, now))

    async def top_spenders(self, guild_id: str, period: Period, limit: int = 10) -> list[Spender]:
        """The guild's members by money, then tokens, committed in the current ``period``, most first."""
        since = period.start(self._clock())
        return await self._db.transact(lambda tx: ledger.top_spenders(tx, guild_id, since, limit))


def member_key(guild_id: str, member_id: str) -> str:
    """What one member's budget transactions are serialised on."""
    return f"budget:{guild_id}:{member_id}"


def role_key(role_id: str) -> str:
    """The ``budget_limits.member_id`` of a role's limits (member ids are
    digits, the guild default is ``""``, so the three never meet)."""
    return f"role:{role_id}"


async def effective(tx: Tx, guild_id: str, member_id: str, roles: Sequence[str]) -> Limits:
    """The limits that apply to a member, limit by limit: their own if set;
    else the most generous of their roles' (``Limits.most_generous``); else
    the guild default. One query, however many roles the member has: this
    runs for every run checked and every model call held."""
    role_keys = [role_key(r) for r in roles]
    keys = [member_id, *role_keys, ""] if member_id else [*role_keys, ""]
    rows = await tx.fetchall(
        f"SELECT * FROM budget_limits WHERE guild_id = ? AND member_id IN {placeholders(keys)}", (guild_id, *keys)
    )
    found = {row["member_id"]: limits_from_row(row) for row in rows}
    member = found.get(member_id, Limits()) if member_id else Limits()
    by_role = Limits.most_generous([found.get(key, Limits()) for key in role_keys])
    return member.over(by_role.over(found.get("", Limits())))


# -- transaction bodies ----------------------------------------------------


async def _check(
    tx: Tx, invocation: Invocation, agent_id: str, owner_id: str, now: datetime, fixed: Limits | None
) -> Refusal | None:
    guild_id, member_id = invocation.guild_id, invocation.caller_id
    if await tx.fetchone("SELECT 1 FROM budget_reservations WHERE run_id = ?", (invocation.run_id,)) is not None:
        return None
    limits = fixed if fixed is not None else await effective(tx, guild_id, member_id, invocation.caller_roles)
    refusal = await _refusal(tx, limits, guild_id, member_id, now, top_level=not invocation.parent_run_id)
    if refusal is not None and fixed is not None:
        return replace(refusal, personal=True)
    if refusal is None:
        await tx.execute(
            "INSERT INTO budget_reservations (run_id, guild_id, member_id, agent_id, parent_run_id, started_at,"
            " owner_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (invocation.run_id, guild_id, member_id, agent_id, invocation.parent_run_id, to_db(now), owner_id),
        )
    return refusal


async def _commit(tx: Tx, invocation: Invocation, spend: Spend, now: str) -> None:
    usage = spend.usage
    reservation = await tx.fetchone(
        "SELECT agent_id, started_at FROM budget_reservations WHERE run_id = ?", (invocation.run_id,)
    )
    await tx.execute(
        "INSERT INTO budget_ledger (run_id, guild_id, member_id, agent_id, parent_run_id, status, started_at,"
        " committed_at, runtime_seconds, input_tokens, output_tokens, reasoning_tokens, cached_tokens,"
        " cost_micros, unpriced_calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id) DO NOTHING",
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
            usage.cost_micros,
            usage.unpriced_calls,
        ),
    )
    await tx.execute("DELETE FROM budget_reservations WHERE run_id = ?", (invocation.run_id,))


async def _set_limits(tx: Tx, guild_id: str, member_id: str, changes: tuple[LimitChange, ...], now: str) -> Limits:
    limits = (await _row(tx, guild_id, member_id)).changed(changes)
    columns = [*limit_columns(), "updated_at"]
    await tx.execute(
        f"INSERT INTO budget_limits (guild_id, member_id, {', '.join(columns)})"
        f" VALUES (?, ?, {', '.join('?' * len(columns))}) ON CONFLICT (guild_id, member_id) DO UPDATE SET"
        f" {', '.join(f'{c} = excluded.{c}' for c in columns)}",
        (guild_id, member_id, *limits_row(limits), now),
    )
    return limits


async def _reset(tx: Tx, guild_id: str, member_id: str) -> bool:
    deleted = await tx.execute("DELETE FROM budget_limits WHERE guild_id = ? AND member_id = ?", (guild_id, member_id))
    return deleted > 0


async def _usage(
    tx: Tx, guild_id: str, member_id: str, roles: Sequence[str], now: datetime, fixed: Limits | None
) -> MemberUsage:
    limits = fixed if fixed is not None else await effective(tx, guild_id, member_id, roles)
    going = await ledger.running(tx, guild_id, member_id)
    periods: dict[Period, PeriodUsage] = {}
    for p in Period:
        start = p.start(now)
        periods[p] = PeriodUsage(p, start, p.next_start(now), await ledger.spent_since(tx, guild_id, member_id, start))
    return MemberUsage(guild_id, member_id, limits, going, periods)


async def _row(tx: Tx, guild_id: str, member_id: str) -> Limits:
    row = await tx.fetchone("SELECT * FROM budget_limits WHERE guild_id = ? AND member_id = ?", (guild_id, member_id))
    return limits_from_row(row)


async def _refusal(
    tx: Tx, limits: Limits, guild_id: str, member_id: str, now: datetime, *, top_level: bool
) -> Refusal | None:
    """Why a run may not start now; None if it may.

    A run needs every limit not used up: a run left, tokens and runtime not
    spent, a free concurrent slot. Sub-runs are gated only by the limits
    marked ``sub_runs`` (the run that delegated them holds the member's run
    and slot). A run being checked is not counted yet, so ``used >= allowed``
    refuses it.
    """
    gated = [limit for limit in Limit if top_level or limit.sub_runs]
    for use in await _uses(tx, limits, guild_id, member_id, now, gated):
        if use.used >= use.allowed:
            return Refusal(use.limit, use.used, use.allowed, use.period, use.resets_at)
    return None


async def _uses(
    tx: Tx, limits: Limits, guild_id: str, member_id: str, now: datetime, only: Iterable[Limit] = Limit
) -> list[LimitUse]:
    """What the member has used of each limit set among ``only``, in ``Limit`` order."""
    spent: dict[Period, Spent] = {}
    uses = []
    for limit in only:
        allowed = limits.amount(limit)
        if allowed is None:
            continue
        if not limit.per_period:
            uses.append(LimitUse(limit, await ledger.running(tx, guild_id, member_id), allowed))
            continue
        period = limits.period(limit)
        if period not in spent:
            spent[period] = await ledger.spent_since(tx, guild_id, member_id, period.start(now))
        uses.append(LimitUse(limit, spent[period].of(limit), allowed, period, period.next_start(now)))
    return uses


async def _standing(
    tx: Tx, guild_id: str, member_id: str, roles: Sequence[str], now: datetime, fixed: Limits | None = None
) -> list[LimitUse]:
    """The member's use of each per-period limit above 0 that applies to them
    (``fixed``: the personal scope's limits, which no table row holds)."""
    limits = fixed if fixed is not None else await effective(tx, guild_id, member_id, roles)
    per_period = [limit for limit in Limit if limit.per_period]
    return [u for u in await _uses(tx, limits, guild_id, member_id, now, per_period) if u.allowed > 0]


async def _claim_warnings(
    tx: Tx, guild_id: str, member_id: str, roles: Sequence[str], percent: float, now: datetime, fixed: Limits | None
) -> list[LimitUse]:
    claimed = []
    for use in await _standing(tx, guild_id, member_id, roles, now, fixed):
        if use.percent < percent:
            continue
        assert use.period is not None  # per-period limits only, see _standing
        fresh = await tx.execute(
            "INSERT INTO budget_warnings (guild_id, member_id, limit_key, period_start, warned_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, member_id, use.limit.key, to_db(use.period.start(now)), to_db(now)),
        )
        if fresh:
            claimed.append(use)
    return claimed


async def _near_limits(
    tx: Tx, guild_id: str, roles_of: Mapping[str, Sequence[str]], percent: float, now: datetime
) -> list[tuple[str, LimitUse]]:
    # Everyone who spent in a period still in force (a week can start in the previous month).
    since = to_db(min(p.start(now) for p in Period))
    rows = await tx.fetchall(
        "SELECT member_id FROM budget_ledger WHERE guild_id = ? AND started_at >= ?"
        " UNION SELECT member_id FROM budget_calls WHERE guild_id = ? AND started_at >= ?"
        " UNION SELECT member_id FROM budget_reservations WHERE guild_id = ?",
        (guild_id, since, guild_id, since, guild_id),
    )
    near = []
    for row in rows:
        member = row["member_id"]
        uses = await _standing(tx, guild_id, member, roles_of.get(member, ()), now)
        near += [(member, u) for u in uses if u.percent >= percent]
    return sorted(near, key=lambda pair: (-pair[1].percent, pair[0]))
