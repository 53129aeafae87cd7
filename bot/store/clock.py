"""Time as the store keeps it: aware UTC datetimes, stored as fixed-width
ISO-8601 text so that string order is time order in SQL comparisons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns "now". Injected so tests can move across period boundaries; a
naive datetime is taken to be UTC."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def to_db(moment: datetime) -> str:
    if moment.tzinfo is UTC:  # utc_now's, on every audit row: no conversion to make
        return moment.isoformat(timespec="microseconds")
    return as_utc(moment).isoformat(timespec="microseconds")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)
