"""Model prices and call costs in USD, a public face of its own: lookups
(MODEL_PRICES, genai-prices, a default; ``table``), the cost of a call's usage
and the worst case to reserve before one (``price``), and money display
(``money``). Apart from ``executor.llm`` because it loads genai-prices' data,
which only hosts that count money need."""

from __future__ import annotations

from executor.llm.pricing.money import MICROS_PER_USD, format_usd, parse_usd
from executor.llm.pricing.price import Price, PriceTier, Tariff, cost, parse_model_prices, parse_price, worst_case_cost
from executor.llm.pricing.table import PriceTable, catalogue_price

__all__ = [
    "MICROS_PER_USD",
    "Price",
    "PriceTable",
    "PriceTier",
    "Tariff",
    "catalogue_price",
    "cost",
    "format_usd",
    "parse_model_prices",
    "parse_price",
    "parse_usd",
    "worst_case_cost",
]
