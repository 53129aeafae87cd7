"""Tier parsing, model resolution and context windows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from executor import ModelResolver
from executor.errors import ModelResolutionError
from executor.llm.anthropic import AnthropicModel
from executor.llm.errors import ProviderUnavailableError
from executor.llm.http import RetryPolicy
from executor.llm.openai import OpenAIChatModel
from executor.llm.tiers import (
    DEFAULT_CONTEXT_TOKENS,
    ModelRegistry,
    ModelSpec,
    ProviderAccess,
    known_context_window,
    parse_context_windows,
    parse_tiers,
)
from executor.llm.types import UserMessage
from tests.fakes.model_servers import FakeAnthropicServer, FakeOpenAIServer, Reply

TIERS = parse_tiers("fast=openai/gpt-4o-mini, smart=anthropic/claude-sonnet-4-5, local=openai/llama3.1:8b")
KEYS = {"openai": ProviderAccess(api_key="sk-o"), "anthropic": ProviderAccess(api_key="sk-a")}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def test_parse_tiers_splits_specs_on_the_first_slash() -> None:
    tiers = parse_tiers(" fast = openai/gpt-4o-mini ,hf=openai/meta-llama/Llama-3.1-8B:q4,, ")
    assert tiers == {
        "fast": ModelSpec("openai", "gpt-4o-mini"),
        "hf": ModelSpec("openai", "meta-llama/Llama-3.1-8B:q4"),
    }
    assert str(tiers["hf"]) == "openai/meta-llama/Llama-3.1-8B:q4"
    assert parse_tiers("") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("fast", "not name=value"),
        ("fast=gpt-4o", "not a provider/model spec"),
        ("fast=openai/", "not a provider/model spec"),
        ("fast=azure/gpt-4o", "unknown provider 'azure'"),
        ("fast=openai/a,fast=openai/b", "defined twice"),
        ("my tier=openai/a", "tier name"),
    ],
)
def test_bad_tiers_name_the_variable(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_tiers(text)
    assert str(info.value).startswith("MODEL_TIERS: ")
    assert fragment in str(info.value)


def test_parse_context_windows() -> None:
    assert parse_context_windows("gpt-4o-mini=128000, local=8_192") == {"gpt-4o-mini": 128000, "local": 8192}
    for bad in ("gpt-4o=lots", "gpt-4o=0", "gpt-4o"):
        with pytest.raises(ValueError, match="^MODEL_CONTEXT_WINDOWS: "):
            parse_context_windows(bad)


def test_resolve_tiers_and_specs(client: httpx.AsyncClient) -> None:
    registry = ModelRegistry(client, TIERS, KEYS)
    fast = registry.resolve("fast")
    assert isinstance(fast, OpenAIChatModel) and fast.name == "openai/gpt-4o-mini"
    assert fast.url == "https://api.openai.com/v1/chat/completions"
    smart = registry("smart")
    assert isinstance(smart, AnthropicModel) and smart.name == "anthropic/claude-sonnet-4-5"
    assert registry.resolve("openai/gpt-4o-mini") is fast  # built once per spec
    assert registry.resolve("anthropic/claude-haiku-4-5").name == "anthropic/claude-haiku-4-5"
    resolver: ModelResolver = registry
    assert resolver("local") is registry.resolve("openai/llama3.1:8b")


def test_unknown_tier_names_model_tiers(client: httpx.AsyncClient) -> None:
    registry = ModelRegistry(client, TIERS, KEYS)
    with pytest.raises(ModelResolutionError) as info:
        registry.resolve("genius")
    assert "MODEL_TIERS" in str(info.value) and "fast, local, smart" in str(info.value)
    with pytest.raises(ModelResolutionError, match="unknown provider 'gemini'"):
        registry.resolve("gemini/pro")


@pytest.mark.parametrize(("tier", "variable"), [("fast", "OPENAI_API_KEY"), ("smart", "ANTHROPIC_API_KEY")])
def test_missing_key_names_the_variable(client: httpx.AsyncClient, tier: str, variable: str) -> None:
    registry = ModelRegistry(client, TIERS, {})
    with pytest.raises(ModelResolutionError) as info:
        registry.resolve(tier)
    assert f"set {variable}" in str(info.value)


def test_a_local_server_needs_no_key(client: httpx.AsyncClient) -> None:
    registry = ModelRegistry(client, TIERS, {"openai": ProviderAccess(base_url="http://localhost:11434/v1")})
    local = registry.resolve("local")
    assert isinstance(local, OpenAIChatModel)
    assert local.url == "http://localhost:11434/v1/chat/completions"


def test_context_tokens(client: httpx.AsyncClient) -> None:
    registry = ModelRegistry(
        client,
        TIERS,
        KEYS,
        context_windows={"llama3.1:8b": 8192, "smart": 150_000, "openai/gpt-4.1": 900_000},
    )
    assert registry.context_tokens("fast") == 128_000
    assert registry.context_tokens("local") == 8192
    assert registry.context_tokens("smart") == 150_000
    assert registry.context_tokens("anthropic/claude-sonnet-4-5") == 200_000
    assert registry.context_tokens("openai/gpt-4.1") == 900_000
    assert registry.context_tokens("openai/gpt-4.1-mini-2025-04-14") == 1_047_576
    assert registry.context_tokens("openai/mystery") == DEFAULT_CONTEXT_TOKENS
    assert registry.context_tokens("genius") == DEFAULT_CONTEXT_TOKENS  # the run fails at resolution instead


def test_known_context_window_prefers_the_longest_prefix() -> None:
    assert known_context_window("gpt-4o-mini-2024-07-18") == 128_000
    assert known_context_window("gpt-3.5-turbo-0125") == 16_385
    assert known_context_window("claude-sonnet-4-5-20250929") == 200_000
    assert known_context_window("gpt-4o-minimal") == DEFAULT_CONTEXT_TOKENS


async def test_resolved_models_talk_to_their_servers(client: httpx.AsyncClient) -> None:
    async with FakeOpenAIServer() as oai, FakeAnthropicServer() as ant:
        registry = ModelRegistry(
            client,
            TIERS,
            {
                "openai": ProviderAccess(base_url=oai.base_url),
                "anthropic": ProviderAccess(api_key="k", base_url=ant.base_url),
            },
            timeout=5,
            retry=RetryPolicy(max_retries=0),
        )
        oai.script(Reply.error(500), Reply.text("from openai"))
        ant.script(Reply.text("from anthropic"))
        with pytest.raises(ProviderUnavailableError, match="HTTP 500"):
            await registry.resolve("fast").complete([UserMessage("hi")])
        assert (await registry.resolve("fast").complete([UserMessage("hi")])).message.content == "from openai"
        assert (await registry.resolve("smart").complete([UserMessage("hi")])).message.content == "from anthropic"
        assert ant.requests[0]["model"] == "claude-sonnet-4-5"
