"""Budget limits: the values, their validation and how a member's limits
combine with the guild default."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from bot.store.periods import Period

#: The largest limit accepted, for every kind (runs, tokens, seconds). Far
#: beyond any real budget, well inside SQLite's 64-bit INTEGER and what
#: Discord's number options carry; a larger value is refused, not stored.
MAX_LIMIT = 1_000_000_000_000
_WHOLE = ("max_runs", "max_tokens", "max_concurrent")
_SECONDS = ("max_runtime_seconds",)
_PERIODS = ("runs_period", "tokens_period", "runtime_period")


@dataclass(frozen=True, slots=True)
class Limits:
    """One row of limits (a member's, or a guild's default).

    ``None`` means not set: no limit, or for a member "as the guild default".
    ``0`` allows none. A limit whose period is not set counts per day.
    Runs, runtime and concurrency count the runs a member starts; delegated
    sub-runs add their tokens only (their time is inside the parent's).
    """

    max_runs: int | None = None
    runs_period: Period | None = None
    max_tokens: int | None = None
    tokens_period: Period | None = None
    max_runtime_seconds: float | None = None
    runtime_period: Period | None = None
    max_concurrent: int | None = None

    def over(self, base: Limits) -> Limits:
        """These limits, each unset field taken from ``base``: a member's row
        over the guild default, field by field."""
        merged: dict[str, Any] = {
            f.name: _first_set(getattr(self, f.name), getattr(base, f.name)) for f in fields(Limits)
        }
        return Limits(**merged)

    def with_changes(self, changes: Mapping[str, object]) -> Limits:
        """A copy with ``changes`` applied (``None`` clears a field).

        Raises ValueError, with a message an admin can act on, for an unknown
        field, a negative or non-numeric amount, or an unknown period.
        """
        checked: dict[str, Any] = {name: validated(name, value) for name, value in changes.items()}
        return replace(self, **checked)

    def period(self, name: str) -> Period:
        value = getattr(self, name)
        return value if isinstance(value, Period) else Period.DAY


def validated(name: str, value: object) -> int | float | Period | None:
    if name not in _WHOLE + _SECONDS + _PERIODS:
        known = ", ".join(_WHOLE + _SECONDS + _PERIODS)
        raise ValueError(f"unknown budget limit {name!r}; known limits: {known}")
    if value is None:
        return None
    if name in _PERIODS:
        if isinstance(value, str) and value.lower() in {p.value for p in Period}:
            return Period(value.lower())
        raise ValueError(f"{name} must be one of day, week, month; got {value!r}")
    whole = name in _WHOLE
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
        kind = "a whole number" if whole else "a number of seconds"
        raise ValueError(f"{name} must be {kind}; got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r} (clear it instead for no limit)")
    if value < 0:
        raise ValueError(f"{name} cannot be negative (got {value}); use 0 to allow none, or clear it for no limit")
    if value > MAX_LIMIT:
        raise ValueError(f"{name} can be at most {MAX_LIMIT:,} (got {value:,}); clear it for no limit")
    return value if whole else float(value)


def limits_from_row(row: sqlite3.Row | None) -> Limits:
    if row is None:
        return Limits()
    values: dict[str, Any] = {f.name: row[f.name] for f in fields(Limits)}
    for name in _PERIODS:
        values[name] = Period(values[name]) if values[name] is not None else None
    return Limits(**values)


def _first_set(value: object, fallback: object) -> object:
    return value if value is not None else fallback
