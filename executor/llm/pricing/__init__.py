"""Model prices and call costs in USD: lookups (MODEL_PRICES, genai-prices, a default),
the cost of a call's usage, the worst case to reserve before one, and money display."""

from __future__ import annotations

from executor.llm.pricing.money import MICROS_PER_USD, format_usd, parse_usd
from executor.llm.pricing.price import Price, PriceTier, cost, parse_model_prices, parse_price, worst_case_cost
from executor.llm.pricing.table import PriceTable, catalogue_price

__all__ = [
    "MICROS_PER_USD",
    "Price",
    "PriceTable",
    "PriceTier",
    "catalogue_price",
    "cost",
    "format_usd",
    "parse_model_prices",
    "parse_price",
    "parse_usd",
    "worst_case_cost",
]
