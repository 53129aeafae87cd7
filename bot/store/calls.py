"""The CallBudget port on the store: money held for each model call, then settled.

``reserve_call`` is one write transaction keyed on the member, like the run
gate in budget.py (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on the
guild and member on PostgreSQL): it reads what the member has spent and
holds, and writes its own hold, with no other check of that member in
between, in this process or another. So however many of a member's runs
call models at once, the holds never add up past the limit; and since a
call cannot cost more than it held (the provider is sent the most output
tokens the hold counted), neither do the costs.

Every call gets a ``budget_calls`` row, limit or not: it is the per-call
record of what was held and what it cost. A hold never settled (its process
died mid-call) keeps counting at what it held.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from bot.store import ledger
from bot.store.budget import Refusal, effective, member_key
from bot.store.clock import Clock, as_utc, from_db, to_db
from bot.store.database import Database, Tx
from bot.store.limits import Limit, Limits
from bot.store.scopes import fixed_limits
from executor import BudgetReached

if TYPE_CHECKING:
    from executor.tools import Invocation


class CallRefused(BudgetReached):
    """A model call the member's money does not cover, with its ``Refusal``
    (``needed`` the call's worst case, or ``unpriced_model`` when its price is unknown)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.record())
        self.refusal = refusal


class StoreCallBudget:
    """Holds and settles each model call's money (the executor's CallBudget port)."""

    def __init__(self, db: Database, clock: Clock, personal: Limits | None = None) -> None:
        self._db = db
        self._clock = clock
        #: Every member's limits in PERSONAL_SCOPE (DMs): the operator's settings, as in StoreBudget.
        self._personal = personal or Limits()

    async def reserve_call(self, invocation: Invocation, model: str, worst_case: int | None) -> str:
        """Hold ``worst_case`` micro-dollars for one call of ``model``; its hold id.
        Raises CallRefused when it does not fit in the member's USD limit, or
        when the price is unknown (None) and a USD limit applies (fail closed)."""
        hold = uuid.uuid4().hex
        now = self._clock()
        refusal = await self._db.transact(
            lambda tx: _reserve(
                tx, invocation, model, worst_case, hold, now, fixed_limits(invocation.guild_id, self._personal)
            ),
            write=True,
            key=member_key(invocation.guild_id, invocation.caller_id),
        )
        if refusal is not None:
            raise CallRefused(refusal)
        return hold

    async def settle_call(self, hold: str, cost: int | None) -> None:
        """The call's real cost replaces its hold (None: unknown); a second settle is a no-op.
        Not keyed: lowering a hold can only leave a concurrent check with more
        spent than there is, never less."""
        now = to_db(self._clock())
        await self._db.transact(
            lambda tx: tx.execute(
                "UPDATE budget_calls SET cost_micros = ?, settled = 1, settled_at = ? WHERE hold_id = ? AND settled = 0",
                (cost, now, hold),
            ),
            write=True,
        )


async def _reserve(
    tx: Tx, invocation: Invocation, model: str, worst: int | None, hold: str, now: datetime, fixed: Limits | None
) -> Refusal | None:
    guild_id, member_id = invocation.guild_id, invocation.caller_id
    run = await tx.fetchone("SELECT started_at FROM budget_reservations WHERE run_id = ?", (invocation.run_id,))
    # A call counts in the period its run was admitted in, as the run's ledger entry does.
    started = from_db(run["started_at"]) if run is not None else as_utc(now)
    limits = fixed if fixed is not None else await effective(tx, guild_id, member_id, invocation.caller_roles)
    allowed, personal = limits.amount(Limit.USD), fixed is not None
    if allowed is not None:
        period = limits.period(Limit.USD)
        resets = period.next_start(now)
        if worst is None:
            return Refusal(Limit.USD, 0, allowed, period, resets, unpriced_model=model, personal=personal)
        # From the start of the run's period: for a run that crossed into a new
        # period this also counts the new one's spend, never less than either.
        used = (await ledger.spent_since(tx, guild_id, member_id, period.start(started))).usd_micros
        if used + worst > allowed:
            return Refusal(Limit.USD, used, allowed, period, resets, needed=worst, personal=personal)
    await tx.execute(
        "INSERT INTO budget_calls (hold_id, run_id, guild_id, member_id, model, started_at, held_micros, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (hold, invocation.run_id, guild_id, member_id, model, to_db(started), worst or 0, to_db(now)),
    )
    return None
