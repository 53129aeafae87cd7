"""Which price a model has: the operator's MODEL_PRICES, then genai-prices, then a default.

genai-prices is pydantic's maintained price data (what pydantic-ai uses).
It can refresh itself from the network, but only while its ``UpdatePrices``
task is started, which nothing here does: lookups read the data bundled with
the installed version, so they work offline and never wait on a fetch. New
prices arrive by upgrading the package; until then MODEL_PRICES fills gaps.

A model nobody prices has an unknown cost (None), never a guessed one:
budgets in USD refuse such runs unless the operator sets a default price.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import genai_prices
from genai_prices.types import ModelPrice, TieredPrices

from executor.llm.pricing.price import Price, PriceTier, Tariff
from executor.llm.tiers import ModelSpec

#: genai-prices' keys for our Price fields, in Price's field order.
_GENAI_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


class PriceTable:
    """Resolves a model spec to its :class:`Price`, or None when unknown.

    ``overrides`` (MODEL_PRICES) are keyed by ``provider/model`` or by model
    name and win over genai-prices. ``base_urls`` are the providers' API
    bases: genai-prices finds the provider behind a URL, so an OpenAI-compatible
    server elsewhere (DeepSeek, Groq, ...) gets that provider's prices, and a
    local one (Ollama) gets none, since the OpenAI price of a model name says
    nothing about what a local server costs. ``default`` prices every model
    left unknown.
    """

    def __init__(
        self,
        overrides: Mapping[str, Price] | None = None,
        *,
        default: Price | None = None,
        base_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.overrides = dict(overrides or {})
        self.default = default
        self.base_urls = dict(base_urls or {})

    def price(self, spec: ModelSpec) -> Price | None:
        """The price of ``spec``'s tokens; None when neither the operator nor genai-prices knows it."""
        for key in (str(spec), spec.model):
            if key in self.overrides:
                return self.overrides[key]
        known = catalogue_price(spec.provider, spec.model, self.base_urls.get(spec.provider))
        return known if known is not None else self.default

    def tariff(self, spec: ModelSpec, max_output_tokens: int) -> Tariff | None:
        """What ``spec``'s calls cost when each may write ``max_output_tokens``; None when its price is unknown."""
        price = self.price(spec)
        return Tariff(price, max_output_tokens) if price is not None else None


def catalogue_price(provider: str, model: str, base_url: str | None = None) -> Price | None:
    """genai-prices' current price for ``model``, found by API URL if given, else by provider id."""
    nothing = genai_prices.Usage(input_tokens=0, output_tokens=0)
    try:
        if base_url:
            found = genai_prices.calc_price(nothing, model, provider_api_url=base_url)
        else:
            found = genai_prices.calc_price(nothing, model, provider_id=provider)
    except LookupError:
        return None
    return _from_genai(found.model_price)


def _from_genai(prices: ModelPrice) -> Price | None:
    """Our Price from genai-prices' token prices; None for a model not priced by the token."""
    input_, output, cache_read, cache_write = (getattr(prices, key) for key in _GENAI_KEYS)
    if input_ is None or output is None:
        return None

    def flat(above: int | None) -> Price:
        """The figures for prompts longer than ``above`` tokens (None: the base figures)."""
        return Price(
            _figure(input_, above),
            _figure(output, above),
            None if cache_read is None else _figure(cache_read, above),
            None if cache_write is None else _figure(cache_write, above),
        )

    figures = (input_, output, cache_read, cache_write)
    thresholds = sorted({tier.start for value in figures if isinstance(value, TieredPrices) for tier in value.tiers})
    base = flat(None)
    tiers = tuple(PriceTier(above, flat(above)) for above in thresholds)
    return Price(base.input, base.output, base.cached_input, base.cache_write, tiers=tiers)


def _figure(value: Decimal | TieredPrices, above: int | None) -> Decimal:
    """A plain price, or a tiered one's figure for prompts longer than ``above`` tokens.

    genai-prices applies a tier when the prompt exceeds its start, so over
    ``above`` every tier starting at or below it applies, the highest winning.
    """
    if not isinstance(value, TieredPrices):
        return value
    applying = [tier for tier in value.tiers if above is not None and tier.start <= above]
    return max(applying, key=lambda tier: tier.start).price if applying else value.base
