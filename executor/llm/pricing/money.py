"""Money as integer micro-dollars (1 USD = 1,000,000), and how it is shown.

Costs and limits are whole micro-dollars rather than floats or Decimals so
that a ledger sums them exactly everywhere: in Python, and in SQLite, whose
``SUM`` over an INTEGER column is exact while a Decimal would have to be
stored as TEXT and summed as a float. A micro-dollar is fine enough for
per-call costs (the cheapest chat models bill a few tenths of a micro-dollar a
token, and costs round up, so the ledger is over by less than a micro-dollar
a call, never under), and an int64 column holds trillions of dollars.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

#: Micro-dollars in one US dollar.
MICROS_PER_USD = 1_000_000

#: The largest amount :func:`parse_usd` takes: a typo guard, far above any real limit.
MAX_USD = Decimal(1_000_000_000)

_CENT = Decimal("0.01")
_TEN_THOUSANDTH = Decimal("0.0001")


def micros_up(amount: Decimal) -> int:
    """``amount`` micro-dollars rounded up to a whole one, so a cost is never under-counted."""
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def format_usd(micros: int | None) -> str:
    """An amount for people: ``$0.0132`` below a dollar, ``$12.50`` from one dollar.

    Four decimals show what one run costs; an amount too small for them reads
    ``<$0.0001`` rather than a misleading ``$0.0000``. ``None`` is an unknown
    cost (a model with no price) and reads ``unknown``.
    """
    if micros is None:
        return "unknown"
    if micros < 0:
        return "-" + format_usd(-micros)
    if micros == 0:
        return "$0"
    usd = Decimal(micros) / MICROS_PER_USD
    small = usd.quantize(_TEN_THOUSANDTH, rounding=ROUND_HALF_UP)
    if small == 0:
        return "<$0.0001"
    if small < 1:
        return f"${small}"
    return f"${usd.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


def parse_usd(value: str | float | Decimal) -> int:
    """A USD amount (``1.50``, ``$0.10``, or a number) in micro-dollars, rounded to the nearest.

    Raises ValueError with a message fit for the person who typed it.
    """
    text = str(value).strip().removeprefix("$").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{str(value).strip()!r} is not an amount in USD: write it like 1.50 or $0.10") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{str(value).strip()!r} is not an amount in USD: use a number of 0 or more, like 1.50")
    if amount > MAX_USD:
        raise ValueError(f"{str(value).strip()!r} is too large: at most ${MAX_USD:,} USD")
    return int((amount * MICROS_PER_USD).to_integral_value(rounding=ROUND_HALF_UP))
