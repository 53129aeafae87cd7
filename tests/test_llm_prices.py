"""executor.llm.pricing: price lookup and override, call costs on both providers, money display.

Expected costs are worked out by hand from the providers' published prices
per million tokens (gpt-4o: $2.50 in, $1.25 cached in, $10 out; Claude
Sonnet 4.5: $3 in, $0.30 cache read, $3.75 cache write, $15 out, and
$6 / $0.60 / $7.50 / $22.50 above 200k prompt tokens). Since a micro-dollar
is a millionth of a dollar, tokens x price per million is the cost in
micro-dollars.
"""

from __future__ import annotations

import socket
import threading
from decimal import Decimal
from typing import Any

import genai_prices
import httpx
import pytest

from bot.config import ConfigError, load_settings
from executor.llm import UserMessage
from executor.llm.anthropic import AnthropicModel
from executor.llm.openai import OpenAIChatModel
from executor.llm.pricing import (
    Price,
    PriceTable,
    PriceTier,
    cost,
    format_usd,
    parse_model_prices,
    parse_price,
    parse_usd,
    worst_case_cost,
)
from executor.llm.tiers import ModelSpec
from executor.llm.types import Usage
from tests.fakes.model_servers import FakeAnthropicServer, FakeOpenAIServer, Reply

OPENAI_API = "https://api.openai.com/v1"
ANTHROPIC_API = "https://api.anthropic.com"
OFFICIAL = {"openai": OPENAI_API, "anthropic": ANTHROPIC_API}

GPT_4O = Price(Decimal("2.5"), Decimal("10"), Decimal("1.25"))
SONNET_LONG = Price(Decimal("6"), Decimal("22.5"), Decimal("0.6"), Decimal("7.5"))
SONNET_4_5 = Price(
    Decimal("3"), Decimal("15"), Decimal("0.3"), Decimal("3.75"), tiers=(PriceTier(200_000, SONNET_LONG),)
)


def spec(text: str) -> ModelSpec:
    provider, _, model = text.partition("/")
    return ModelSpec(provider, model)


# --- lookup ---------------------------------------------------------------------


def test_known_models_come_from_genai_prices() -> None:
    table = PriceTable(base_urls=OFFICIAL)
    assert table.price(spec("openai/gpt-4o")) == GPT_4O
    assert table.price(spec("openai/gpt-4o-mini-2024-07-18")) == Price(
        Decimal("0.15"), Decimal("0.6"), Decimal("0.075")
    )
    assert table.price(spec("anthropic/claude-sonnet-4-5")) == SONNET_4_5
    assert table.price(spec("anthropic/claude-sonnet-4-5-20250929")) == SONNET_4_5
    assert table.price(spec("anthropic/claude-opus-4-1")) == Price(
        Decimal("15"), Decimal("75"), Decimal("1.5"), Decimal("18.75")
    )
    # Without API bases the provider name finds the same data.
    assert PriceTable().price(spec("openai/gpt-4o")) == GPT_4O


def test_unknown_models_have_no_price() -> None:
    table = PriceTable(base_urls=OFFICIAL)
    assert table.price(spec("openai/llama3.1:8b")) is None
    assert table.price(spec("ollama/llama3.1:8b")) is None
    assert table.price(spec("anthropic/claude-from-the-future")) is None
    # genai-prices knows tts-1, but by the character: no token price is better than a wrong one.
    assert table.price(spec("openai/tts-1")) is None


def test_the_api_base_decides_whose_prices_apply() -> None:
    # A local OpenAI-compatible server is not OpenAI: its "gpt-4o" has no known price.
    local = PriceTable(base_urls={"openai": "http://localhost:11434/v1"})
    assert local.price(spec("openai/gpt-4o")) is None
    # Another hosted API behind OPENAI_BASE_URL gets that provider's prices.
    assert PriceTable(base_urls=OFFICIAL).price(spec("openai/deepseek-chat")) is None
    assert PriceTable(base_urls={"openai": "https://api.deepseek.com/v1"}).price(spec("openai/deepseek-chat"))


def test_model_prices_override_genai_prices_by_spec_then_model_name() -> None:
    overrides = parse_model_prices("gpt-4o=1/2,openai/gpt-4o-mini=0.5/1,gpt-4o-mini=9/9,llama3.1:8b=0/0")
    table = PriceTable(overrides, base_urls=OFFICIAL)
    assert table.price(spec("openai/gpt-4o")) == Price(Decimal(1), Decimal(2))
    assert table.price(spec("openai/gpt-4o-mini")) == Price(Decimal("0.5"), Decimal(1))
    assert table.price(spec("openai/llama3.1:8b")) == Price(Decimal(0), Decimal(0))
    # genai-prices still prices the models no entry names.
    assert table.price(spec("anthropic/claude-sonnet-4-5")) == SONNET_4_5


def test_the_default_prices_only_what_nobody_else_does() -> None:
    default = Price(Decimal(1), Decimal(4))
    table = PriceTable(parse_model_prices("llama3.1:8b=0/0"), default=default, base_urls=OFFICIAL)
    assert table.price(spec("openai/qwen2.5:32b")) == default
    assert table.price(spec("openai/llama3.1:8b")) == Price(Decimal(0), Decimal(0))
    assert table.price(spec("openai/gpt-4o")) == GPT_4O


def test_lookups_stay_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """genai-prices can fetch new data in a background thread; nothing here may start it."""

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("price lookup touched the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    table = PriceTable(base_urls=OFFICIAL)
    assert table.price(spec("openai/o3-mini")) is not None
    assert table.price(spec("anthropic/claude-3-5-haiku-latest")) is not None
    assert not [t for t in threading.enumerate() if t.name.startswith("genai_prices")]


# --- cost per call --------------------------------------------------------------


async def test_openai_call_cost_bills_cached_prompt_tokens_at_the_cached_price() -> None:
    usage_sent = Usage(input_tokens=12_000, output_tokens=500, reasoning_tokens=200, cached_tokens=8_000)
    async with FakeOpenAIServer() as server, httpx.AsyncClient() as client:
        model = OpenAIChatModel(client, "gpt-4o", base_url=server.base_url)
        server.script(Reply.text("ok", usage=usage_sent))
        usage = (await model.complete([UserMessage("hi")])).usage
    # 4,000 uncached x $2.50 + 8,000 cached x $1.25 + 500 out (reasoning included) x $10
    assert cost(usage, GPT_4O) == 4_000 * 2.5 + 8_000 * 1.25 + 500 * 10 == 25_000
    assert format_usd(cost(usage, GPT_4O)) == "$0.0250"
    # Without a cached-input price, cached tokens cost what input does.
    assert cost(usage, Price(Decimal("2.5"), Decimal("10"))) == 12_000 * 2.5 + 500 * 10


async def test_anthropic_call_cost_bills_cache_reads_and_writes() -> None:
    # On the wire input_tokens is the uncached part; the provider folds reads and writes into it.
    usage_sent = Usage(input_tokens=1_000, output_tokens=800, cached_tokens=20_000, cache_write_tokens=5_000)
    async with FakeAnthropicServer() as server, httpx.AsyncClient() as client:
        model = AnthropicModel(client, "claude-sonnet-4-5", "key", server.base_url)
        server.script(Reply.text("ok", usage=usage_sent))
        usage = (await model.complete([UserMessage("hi")])).usage
    assert (usage.input_tokens, usage.cached_tokens, usage.cache_write_tokens) == (26_000, 20_000, 5_000)
    expected = 1_000 * 3 + 20_000 * 0.3 + 5_000 * 3.75 + 800 * 15
    assert cost(usage, SONNET_4_5) == expected == 39_750
    # genai-prices' own calculator agrees.
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=26_000, cache_read_tokens=20_000, cache_write_tokens=5_000, output_tokens=800),
        "claude-sonnet-4-5",
        provider_id="anthropic",
    )
    assert theirs.total_price * 1_000_000 == expected


def test_long_prompts_pay_the_long_context_prices() -> None:
    at_threshold = Usage(input_tokens=200_000, output_tokens=1_000)
    above = Usage(input_tokens=250_000, output_tokens=1_000, cached_tokens=50_000)
    assert cost(at_threshold, SONNET_4_5) == 200_000 * 3 + 1_000 * 15
    assert cost(above, SONNET_4_5) == 200_000 * 6 + 50_000 * 0.6 + 1_000 * 22.5 == 1_252_500
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=250_000, cache_read_tokens=50_000, output_tokens=1_000),
        "claude-sonnet-4-5",
        provider_id="anthropic",
    )
    assert theirs.total_price * 1_000_000 == 1_252_500


def test_costs_round_up_to_whole_micro_dollars() -> None:
    mini = Price(Decimal("0.15"), Decimal("0.6"))
    assert cost(Usage(input_tokens=1), mini) == 1  # 0.15 micro-dollars
    assert cost(Usage(input_tokens=10, output_tokens=1), mini) == 3  # 1.5 + 0.6
    assert cost(Usage(), mini) == 0
    # A report with more cached than input tokens does not make the uncached part negative.
    assert cost(Usage(input_tokens=10, cached_tokens=20), GPT_4O) == 25


def test_worst_case_prices_the_whole_prompt_and_the_longest_answer() -> None:
    assert worst_case_cost(GPT_4O, 10_000, 4_096) == 10_000 * 2.5 + 4_096 * 10 == 65_960
    # On Anthropic a prompt token can be a cache write, the dearest input.
    assert worst_case_cost(SONNET_4_5, 10_000, 8_192) == 10_000 * 3.75 + 8_192 * 15
    assert worst_case_cost(SONNET_4_5, 250_000, 8_192) == 250_000 * 7.5 + 8_192 * 22.5
    for cached, written, output in [(0, 0, 8_192), (9_000, 0, 100), (0, 10_000, 8_192), (4_000, 6_000, 8_192)]:
        usage = Usage(input_tokens=10_000, output_tokens=output, cached_tokens=cached, cache_write_tokens=written)
        assert cost(usage, SONNET_4_5) <= worst_case_cost(SONNET_4_5, 10_000, 8_192)


# --- MODEL_PRICES and the default -----------------------------------------------


def test_model_prices_parse_two_three_or_four_figures() -> None:
    assert parse_model_prices(" llama3.1:8b=0/0 , gpt-4o = 2.5 / 10, x=1/2/0.5,, claude=3/15/0.3/3.75") == {
        "llama3.1:8b": Price(Decimal(0), Decimal(0)),
        "gpt-4o": Price(Decimal("2.5"), Decimal(10)),
        "x": Price(Decimal(1), Decimal(2), Decimal("0.5")),
        "claude": Price(Decimal(3), Decimal(15), Decimal("0.3"), Decimal("3.75")),
    }
    assert parse_model_prices("openai/llama3.1:8b=0/0") == {"openai/llama3.1:8b": Price(Decimal(0), Decimal(0))}
    assert parse_model_prices("") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpt-4o=2.5", "MODEL_PRICES: entry 'gpt-4o=2.5': expected input/output[/cached-input[/cache-write]]"),
        ("a=1/2,gpt-4o=2.5/ten", "MODEL_PRICES: entry 'gpt-4o=2.5/ten': 'ten' is not a price"),
        ("x=1/2/3/4/5", "MODEL_PRICES: entry 'x=1/2/3/4/5': expected input/output"),
        ("x=-1/2", "MODEL_PRICES: entry 'x=-1/2': '-1' is not a price: use numbers of 0 or more"),
        ("x=nan/2", "MODEL_PRICES: entry 'x=nan/2': 'nan' is not a price"),
        ("x=1//2", "MODEL_PRICES: entry 'x=1//2': '' is not a price"),
        ("gpt-4o", "MODEL_PRICES: 'gpt-4o' is not name=value (expected e.g. gpt-4o=2.5/10)"),
        ("a=1/2,a=3/4", "MODEL_PRICES: 'a' is priced twice"),
    ],
)
def test_bad_model_prices_name_the_entry_and_the_expected_form(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_model_prices(text)
    assert str(caught.value).startswith(message)


def test_parse_price_reads_the_default_price() -> None:
    assert parse_price(" 1 / 4 ") == Price(Decimal(1), Decimal(4))
    with pytest.raises(ValueError, match="expected input/output"):
        parse_price("1")


@pytest.fixture
def price_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MODEL_PRICES", "MODEL_PRICE_DEFAULT", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_build_the_price_table(price_env: pytest.MonkeyPatch) -> None:
    price_env.setenv("MODEL_PRICES", "llama3.1:8b=0/0,gpt-4o=1/2")
    price_env.setenv("MODEL_PRICE_DEFAULT", "0.5/1.5")
    settings = load_settings(_env_file=None)
    table = settings.price_table()
    assert table.price(spec("openai/gpt-4o")) == Price(Decimal(1), Decimal(2))
    assert table.price(spec("openai/llama3.1:8b")) == Price(Decimal(0), Decimal(0))
    assert table.price(spec("anthropic/claude-sonnet-4-5")) == SONNET_4_5
    assert table.price(spec("openai/unheard-of")) == Price(Decimal("0.5"), Decimal("1.5"))
    # OPENAI_BASE_URL at a local server: its models are priced only by MODEL_PRICES or the default.
    price_env.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    price_env.delenv("MODEL_PRICE_DEFAULT")
    local = load_settings(_env_file=None).price_table()
    assert local.price(spec("openai/gpt-4o-mini")) is None
    assert local.price(spec("openai/llama3.1:8b")) == Price(Decimal(0), Decimal(0))


def test_unset_prices_mean_genai_prices_alone(price_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(_env_file=None)
    assert (settings.model_prices, settings.model_price_default) == ({}, None)
    assert settings.price_table().price(spec("openai/unheard-of")) is None


def test_a_bad_price_setting_stops_start_up_with_one_line_naming_it(price_env: pytest.MonkeyPatch) -> None:
    price_env.setenv("MODEL_PRICES", "gpt-4o=2.5/10,llama=free")
    price_env.setenv("MODEL_PRICE_DEFAULT", "1/x")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid configuration:"
    assert sorted(lines[1:]) == [
        "MODEL_PRICES: entry 'llama=free': expected input/output[/cached-input[/cache-write]] "
        "in USD per million tokens, like 2.5/10",
        "MODEL_PRICE_DEFAULT: 'x' is not a price: use numbers of 0 or more, like 2.5/10",
    ]


# --- money ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (13_200, "$0.0132"),
        (13_249, "$0.0132"),
        (13_250, "$0.0133"),
        (100_000, "$0.1000"),
        (99, "$0.0001"),
        (49, "<$0.0001"),
        (0, "$0"),
        (999_960, "$1.00"),
        (12_500_000, "$12.50"),
        (1_234_567_890, "$1,234.57"),
        (-13_200, "-$0.0132"),
        (None, "unknown"),
    ],
)
def test_format_usd(micros: int | None, shown: str) -> None:
    assert format_usd(micros) == shown


def test_parse_usd_reads_limits_in_micro_dollars() -> None:
    assert parse_usd("1.50") == 1_500_000
    assert parse_usd(" $0.10 ") == 100_000
    assert parse_usd(0.1) == 100_000
    assert parse_usd(Decimal("0.0000005")) == 1
    assert parse_usd("0") == 0
    for bad, reason in [("ten", "not an amount in USD"), ("-1", "0 or more"), ("nan", "0 or more"), ("1e12", "too large")]:
        with pytest.raises(ValueError, match=reason):
            parse_usd(bad)
