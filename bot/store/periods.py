"""Budget periods: UTC calendar days, weeks (from Monday) and months."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.store.clock import as_utc


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @property
    def days(self) -> int:
        """The period's length in days for comparing limits (a month counts 30)."""
        return {Period.DAY: 1, Period.WEEK: 7, Period.MONTH: 30}[self]

    def start(self, now: datetime) -> datetime:
        """The start of the period containing ``now``: 00:00 UTC of the day,
        of the week's Monday, or of the month's 1st."""
        day = as_utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
        if self is Period.DAY:
            return day
        if self is Period.WEEK:
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)

    def next_start(self, now: datetime) -> datetime:
        """When the period containing ``now`` ends and usage resets."""
        start = self.start(now)
        if self is Period.DAY:
            return start + timedelta(days=1)
        if self is Period.WEEK:
            return start + timedelta(weeks=1)
        return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
