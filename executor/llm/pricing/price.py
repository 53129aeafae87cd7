"""What one model's tokens cost, and the cost of one call.

A :class:`Price` is in USD per million tokens, the unit every provider
publishes. Because a micro-dollar is a millionth of a dollar, tokens × price
per million *is* the cost in micro-dollars, with no scaling to get wrong.

How usage maps to prices (see the providers' ``_usage``):

* OpenAI's ``prompt_tokens`` includes ``cached_tokens``; the cached part is
  billed at the cached-input price, the rest at the input price.
* Anthropic's cache reads and writes are folded into ``input_tokens`` by
  executor/llm/anthropic.py, with ``cached_tokens`` (reads) and
  ``cache_write_tokens`` (writes) beside it; reads bill at the cached-input
  price, writes at the cache-write price, the rest at the input price.
* Reasoning tokens are part of ``output_tokens`` on both.

Some models cost more per token once a prompt is long (Anthropic above 200k
input tokens): those prices are :class:`PriceTier` entries, picked by the
call's whole prompt size, as the providers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from executor.llm.pricing.money import micros_up
from executor.llm.tiers import _pairs
from executor.llm.types import Usage

@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens.

    ``cached_input`` (OpenAI cached prompt tokens, Anthropic cache reads) and
    ``cache_write`` (Anthropic cache writes) are None when not given; those
    tokens are then billed at the input price. For cache reads that is never
    less than the real charge; Anthropic bills cache writes at 1.25 times
    input, so an Anthropic price set by hand should give all four figures.
    """

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    #: Dearer prices for long prompts, by ascending threshold.
    tiers: tuple[PriceTier, ...] = ()

    def at(self, input_tokens: int) -> Price:
        """The price whose per-token figures apply to a call with this many prompt tokens."""
        for tier in reversed(self.tiers):
            if input_tokens > tier.above:
                return tier.price
        return self


@dataclass(frozen=True, slots=True)
class PriceTier:
    """``price`` applies when a call's prompt has more than ``above`` tokens."""

    above: int
    price: Price


def cost(usage: Usage, price: Price) -> int:
    """One call's cost in micro-dollars, rounded up.

    Cost calls one by one and add the results: the long-prompt tier is chosen
    from ``usage.input_tokens``, which for summed usage is no call's prompt.
    """
    flat = price.at(usage.input_tokens)
    cached = usage.cached_tokens
    written = usage.cache_write_tokens
    # Providers report cached and written tokens inside input_tokens; a
    # malformed report with more of them than input must not turn negative.
    uncached = max(usage.input_tokens - cached - written, 0)
    total = (
        uncached * flat.input
        + cached * _or(flat.cached_input, flat.input)
        + written * _or(flat.cache_write, flat.input)
        + usage.output_tokens * flat.output
    )
    return micros_up(total)


def worst_case_cost(price: Price, prompt_tokens: int, max_output_tokens: int) -> int:
    """The most a call can cost, in micro-dollars: what to reserve before making it.

    Every prompt token is priced at the dearest of the input prices (a cache
    write costs more than plain input on Anthropic), and the answer at its
    maximum length. It is only as safe as ``prompt_tokens``: pass a count
    that is not below the real one.
    """
    flat = price.at(prompt_tokens)
    dearest_input = max(flat.input, _or(flat.cached_input, flat.input), _or(flat.cache_write, flat.input))
    return micros_up(prompt_tokens * dearest_input + max_output_tokens * flat.output)


@dataclass(frozen=True, slots=True)
class Tariff:
    """A model's price and the most output tokens one of its calls may write
    (the model is sent that maximum): what the executor's budget holds
    before a call and charges after it (``executor.spending.Tariff``)."""

    price: Price
    max_output_tokens: int

    def worst_case(self, prompt_tokens: int) -> int:
        return worst_case_cost(self.price, prompt_tokens, self.max_output_tokens)

    def cost(self, usage: Usage) -> int:
        return cost(usage, self.price)


def parse_price(text: str) -> Price:
    """``2.5/10``, ``2.5/10/1.25`` or ``3/15/0.3/3.75`` (input/output[/cached-input[/cache-write]]).

    Raises ValueError saying which figure is wrong and what is expected.
    """
    parts = [part.strip() for part in text.strip().split("/")]
    if not 2 <= len(parts) <= 4:
        raise ValueError("expected input/output[/cached-input[/cache-write]] in USD per million tokens, like 2.5/10")
    figures = [_figure(part) for part in parts]
    optional = figures[2:] + [None, None]
    return Price(figures[0], figures[1], optional[0], optional[1])


def parse_model_prices(text: str) -> dict[str, Price]:
    """``MODEL_PRICES``: ``llama3.1:8b=0/0,gpt-4o=2.5/10,...`` -> {model or provider/model: price}.

    Errors start with ``MODEL_PRICES:`` and quote the offending entry.
    """
    prices: dict[str, Price] = {}
    for name, value in _pairs(text, "MODEL_PRICES", "gpt-4o=2.5/10"):
        if name in prices:
            raise ValueError(f"MODEL_PRICES: {name!r} is priced twice; keep one entry")
        try:
            prices[name] = parse_price(value)
        except ValueError as exc:
            raise ValueError(f"MODEL_PRICES: entry {name + '=' + value!r}: {exc}") from None
    return prices


def _figure(part: str) -> Decimal:
    try:
        figure = Decimal(part)
    except InvalidOperation:
        figure = Decimal(-1)
    if not figure.is_finite() or figure < 0:
        raise ValueError(f"{part!r} is not a price: use numbers of 0 or more, like 2.5/10")
    return figure


def _or(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value
