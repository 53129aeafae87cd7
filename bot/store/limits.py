"""Budget limits: the vocabulary of limits, one row of them, and how a
member's row combines with the guild default.

``Limit`` is the one place a limit is spelled: the option admins type, its
``budget_limits`` column, the ledger sum it is checked against, its unit and
noun. Everything else (validation, rows, SQL, the budget check, the admin
commands and the text members read) loops over it, so a new limit is one line
here, plus its column in a migration and, when it counts something new, its
sum in ``ledger.py``.

``USD`` is stored in micro-dollars (``executor.llm.pricing.money``), so it is
whole like runs and tokens; admins type dollars and read them as ``$1.50``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum

from bot.store.database import Row
from bot.store.periods import Period

#: The largest limit accepted, for every kind (runs, tokens, seconds). Far
#: beyond any real budget, well inside SQLite's 64-bit INTEGER and what
#: Discord's number options carry; a larger value is refused, not stored.
MAX_LIMIT = 1_000_000_000_000


class Limit(Enum):
    """A kind of budget limit.

    ``spent`` names the ``Spent`` sum the limit is checked against within its
    period; a limit without one is not per period and counts the runs going
    now. ``sub_runs``: whether delegated sub-runs are gated by it too (the run
    that delegated them already holds the member's run and slot).
    """

    # fmt: off
    #             key           column                 spent              whole  sub_runs unit   noun                   hint
    RUNS =       ("runs",       "max_runs",            "runs",            True,  False,   "",    "runs",                "Runs per period")
    TOKENS =     ("tokens",     "max_tokens",          "tokens",          True,  True,    "",    "tokens",              "Tokens (in + out) per period")
    RUNTIME =    ("runtime",    "max_runtime_seconds", "runtime_seconds", False, True,    " s",  "seconds of run time", "Seconds of run time per period")
    CONCURRENT = ("concurrent", "max_concurrent",      "",                True,  False,   "",    "runs at once",        "Runs at the same time")
    USD =        ("usd",        "max_usd_micros",      "usd_micros",      True,  True,    "",    "USD",                 "US dollars per period, like 1.50")
    # fmt: on

    def __init__(
        self, key: str, column: str, spent: str, whole: bool, sub_runs: bool, unit: str, noun: str, hint: str
    ) -> None:
        self.key = key
        self.column = column
        self.spent = spent
        self.whole = whole
        self.sub_runs = sub_runs
        #: Shown right after an amount (``60 s``); limits without one show their noun.
        self.unit = unit
        self.noun = noun
        #: What the admin command's option says about it.
        self.hint = hint

    @property
    def per_period(self) -> bool:
        return bool(self.spent)

    @property
    def period_column(self) -> str | None:
        return f"{self.key}_period" if self.per_period else None

    @classmethod
    def named(cls, key: str) -> Limit:
        """The limit admins call ``key``; ValueError for an unknown one."""
        for limit in cls:
            if limit.key == key:
                return limit
        raise ValueError(f"unknown budget limit {key!r}")


def limit_columns() -> list[str]:
    """The ``budget_limits`` columns of every limit, amount then period."""
    return [c for limit in Limit for c in (limit.column, limit.period_column) if c is not None]


@dataclass(frozen=True, slots=True)
class Setting:
    """One limit as set: ``amount`` None is not set (no limit, or for a member
    "as the guild default"), 0 allows none; ``period`` None counts per day."""

    amount: float | None = None
    period: Period | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """One row of limits (a member's, or a guild's default), by limit.

    Runs, runtime and concurrency count the runs a member starts; delegated
    sub-runs add their tokens only (their time is inside the parent's).
    """

    settings: Mapping[Limit, Setting] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Unset limits are left out, so equal rows compare equal however built.
        object.__setattr__(self, "settings", {k: v for k, v in self.settings.items() if v != Setting()})

    def setting(self, limit: Limit) -> Setting:
        return self.settings.get(limit, Setting())

    def amount(self, limit: Limit) -> float | None:
        return self.setting(limit).amount

    def period(self, limit: Limit) -> Period:
        return self.setting(limit).period or Period.DAY

    def over(self, base: Limits) -> Limits:
        """These limits, each unset amount and period taken from ``base``: a
        member's row over the guild default, field by field."""
        merged: dict[Limit, Setting] = {}
        for limit in Limit:
            mine, theirs = self.setting(limit), base.setting(limit)
            merged[limit] = Setting(_first_set(mine.amount, theirs.amount), mine.period or theirs.period)
        return Limits(merged)

    @classmethod
    def most_generous(cls, rows: Iterable[Limits]) -> Limits:
        """Per limit, the most generous of ``rows`` that set it: the largest
        amount per day (a week counts 7 days, a month 30), so $5 a week beats
        $0.50 a day; runs at once by the largest number. Rows that leave a
        limit unset say nothing about it."""
        best: dict[Limit, Setting] = {}
        for row in rows:
            for limit, setting in row.settings.items():
                if setting.amount is None:
                    continue
                current = best.get(limit)
                if current is None or _daily(limit, setting) > _daily(limit, current):
                    best[limit] = setting
        return cls(best)

    def changed(self, changes: Iterable[LimitChange]) -> Limits:
        """A copy with ``changes`` applied. Raises InvalidLimit for a bad amount."""
        settings = dict(self.settings)
        for change in changes:
            old = settings.get(change.limit, Setting())
            if change.amount is None:
                settings[change.limit] = Setting()
                continue
            amount = validated(change.limit, change.amount)
            period = (change.period or old.period) if change.limit.per_period else None
            settings[change.limit] = replace(old, amount=amount, period=period)
        return Limits(settings)


@dataclass(frozen=True, slots=True)
class LimitChange:
    """What an admin changes of one limit: ``amount`` None removes it (and its
    period); ``period`` None keeps the period it had."""

    limit: Limit
    amount: float | None
    period: Period | None = None


class LimitProblem(StrEnum):
    NOT_A_NUMBER = "not a number"
    NOT_WHOLE = "not a whole number"
    NOT_FINITE = "not finite"
    NEGATIVE = "negative"
    TOO_BIG = "too big"


class InvalidLimit(ValueError):
    """An amount the store will not hold. ``problem`` says which rule it
    breaks; the host words it for the admin (bot/messages.py)."""

    def __init__(self, limit: Limit, value: object, problem: LimitProblem) -> None:
        super().__init__(f"{limit.key}: {problem} ({value!r})")
        self.limit = limit
        self.value = value
        self.problem = problem


def validated(limit: Limit, value: object) -> float:
    """``value`` as ``limit``'s amount (an int for whole limits); InvalidLimit if it cannot be one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidLimit(limit, value, LimitProblem.NOT_A_NUMBER)
    if limit.whole and not isinstance(value, int):
        raise InvalidLimit(limit, value, LimitProblem.NOT_WHOLE)
    if not math.isfinite(value):
        raise InvalidLimit(limit, value, LimitProblem.NOT_FINITE)
    if value < 0:
        raise InvalidLimit(limit, value, LimitProblem.NEGATIVE)
    if value > MAX_LIMIT:
        raise InvalidLimit(limit, value, LimitProblem.TOO_BIG)
    return value if limit.whole else float(value)


def limits_from_row(row: Row | None) -> Limits:
    if row is None:
        return Limits()
    settings: dict[Limit, Setting] = {}
    for limit in Limit:
        period = row[limit.period_column] if limit.period_column else None
        settings[limit] = Setting(row[limit.column], Period(period) if period is not None else None)
    return Limits(settings)


def limits_row(limits: Limits) -> list[object]:
    """The values of ``limit_columns()`` for ``limits``, in that order."""
    values: list[object] = []
    for limit in Limit:
        setting = limits.setting(limit)
        values.append(setting.amount)
        if limit.period_column:
            values.append(setting.period.value if setting.period is not None else None)
    return values


def amount_text(value: float) -> str:
    """An amount as people read it: ``1,000``, ``60.4``."""
    return f"{value:,.0f}" if float(value).is_integer() or value >= 100 else f"{value:,.1f}"


def _daily(limit: Limit, setting: Setting) -> float:
    """A set limit's amount per day (its own amount when it has no period)."""
    assert setting.amount is not None
    return setting.amount / (setting.period or Period.DAY).days if limit.per_period else setting.amount


def _first_set(value: float | None, fallback: float | None) -> float | None:
    return value if value is not None else fallback
