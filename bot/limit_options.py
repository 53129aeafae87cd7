"""What an admin's ``/budget`` options change: amounts as typed (dollars
among them) into the store's ``LimitChange`` records."""

from __future__ import annotations

import math

from bot.store import Limit, LimitChange, Period
from executor.llm.pricing import MICROS_PER_USD


def changes_from(
    runs: int | None,
    tokens: int | None,
    runtime: float | None,
    concurrent: int | None,
    usd: float | None,
    period: str | None,
    clear: str | None,
) -> list[LimitChange]:
    """The changes an admin's options make. ``usd`` is in dollars (stored in
    micro-dollars). ``period`` applies to the limits given with it; ``clear``
    removes one limit (back to unlimited, the roles' or the server default)."""
    given: dict[Limit, float | None] = {
        Limit.RUNS: runs,
        Limit.TOKENS: tokens,
        Limit.RUNTIME: runtime,
        Limit.CONCURRENT: concurrent,
        Limit.USD: _micros(usd) if usd is not None else None,
    }
    per = Period(period) if period else None
    changes = [LimitChange(limit, value, per) for limit, value in given.items() if value is not None]
    if clear:
        changes.append(LimitChange(Limit.named(clear), None))
    return changes


def _micros(usd: float) -> float:
    """Dollars as whole micro-dollars, rounded to the nearest; an amount that
    cannot be a limit (negative, too large, not finite) is passed on for the
    store to refuse with its reason."""
    return round(usd * MICROS_PER_USD) if math.isfinite(usd) else usd
