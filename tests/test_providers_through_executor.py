"""A two-tool-step agent through the executor on each provider's fake server."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import load_settings
from bot.store import Store
from executor import Config, Executor, Ports, RunnableAgent, RunStatus
from executor.llm.anthropic import AnthropicModel
from executor.llm.http import RetryPolicy
from executor.llm.openai import OpenAIChatModel
from executor.llm.types import Usage
from executor.tools.invocation import Invocation
from executor.tools.registry import Registry
from tests.executor_kit import ECHO
from tests.fakes.model_servers import (
    FakeAnthropicServer,
    FakeModelServer,
    FakeOpenAIServer,
    Reply,
)

AGENT = RunnableAgent("two-step", system_prompt="Use the echo tool twice, then answer.", tools=("echo",))
SCRIPT = (
    Reply.tool_call("echo", {"text": "one"}, usage=Usage(100, 10)),
    Reply.tool_call("echo", {"text": "two"}, usage=Usage(150, 12)),
    Reply.text("both echoed", usage=Usage(200, 20)),
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_two_tool_steps_end_ok_with_usage_totals(client: httpx.AsyncClient, provider: str) -> None:
    server: FakeModelServer = FakeOpenAIServer() if provider == "openai" else FakeAnthropicServer()
    async with server:
        server.script(*SCRIPT)
        retry = RetryPolicy(max_retries=0)
        model = (
            OpenAIChatModel(client, "gpt-4o-mini", base_url=server.base_url, retry=retry)
            if provider == "openai"
            else AnthropicModel(client, "claude-sonnet-4-5", api_key="k", base_url=server.base_url, retry=retry)
        )
        ex = Executor(Config(registry=Registry([ECHO]), models=lambda tier: model))
        res = await ex.run(AGENT, Invocation("u"), "go")
        assert res.status is RunStatus.OK, res.err
        assert res.output == "both echoed"
        assert [s.result for s in res.steps] == ["echo:one", "echo:two"]
        assert (res.usage.input_tokens, res.usage.output_tokens) == (450, 42)
        assert len(server.requests) == 3


#: Per call: the usage each provider reports, and its cost by hand at the
#: prices below (USD per million tokens; a micro-dollar per token per $1).
PRICED_SCRIPT = {
    # gpt-4o at $2.50 in, $1.25 cached in, $10 out: prompt_tokens include the cached ones.
    "openai": (
        (Usage(1_000, 10, cached_tokens=600), 400 * 2.5 + 600 * 1.25 + 10 * 10),
        (Usage(2_000, 20), 2_000 * 2.5 + 20 * 10),
    ),
    # claude-sonnet-4-5 at $3 in, $0.30 cache read, $3.75 cache write, $15 out.
    "anthropic": (
        (Usage(100, 10, cached_tokens=2_000, cache_write_tokens=500), 100 * 3 + 2_000 * 0.3 + 500 * 3.75 + 10 * 15),
        (Usage(200, 20, cached_tokens=2_500), 200 * 3 + 2_500 * 0.3 + 20 * 15),
    ),
}
PRICES = "gpt-4o=2.5/10/1.25,claude-sonnet-4-5=3/15/0.3/3.75"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_each_calls_cost_reaches_its_step_the_run_and_the_ledger(
    client: httpx.AsyncClient, provider: str, tmp_path: Path
) -> None:
    server: FakeModelServer = FakeOpenAIServer() if provider == "openai" else FakeAnthropicServer()
    (first, first_cost), (second, second_cost) = PRICED_SCRIPT[provider]
    model = "gpt-4o" if provider == "openai" else "claude-sonnet-4-5"
    async with server, Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        settings = load_settings(
            openai_base_url=server.base_url,
            anthropic_base_url=server.base_url,
            anthropic_api_key="k",
            model_tiers=f"fast={provider}/{model}",
            model_prices=PRICES,
            model_max_output_tokens=64,
        )
        models = settings.model_registry(client)
        ports = Ports(budget=store.budget, audit=store.audit, calls=store.calls)
        ex = Executor(Config(Registry([ECHO]), models, ports=ports, tariffs=settings.tariffs(models)))
        server.script(Reply.tool_call("echo", {"text": "one"}, usage=first), Reply.text("done", usage=second))
        res = await ex.run(AGENT, Invocation("u", run_id="r1", guild_id="g"), "go")
        assert res.status is RunStatus.OK, res.err
        assert res.usage.cost == first_cost + second_cost
        detail = await store.runs.detail("r1")
    assert detail is not None
    assert [s.usage.cost for s in detail.steps] == [first_cost]  # a step is a turn with tool calls
    assert detail.run.usage.cost == first_cost + second_cost
    with sqlite3.connect(tmp_path / "db.sqlite") as db:  # every call, the answer's too
        held_and_cost = db.execute("SELECT held_micros, cost_micros FROM budget_calls ORDER BY created_at").fetchall()
        assert db.execute("SELECT cost_micros FROM budget_ledger").fetchall() == [(first_cost + second_cost,)]
    assert [c for _, c in held_and_cost] == [first_cost, second_cost]
    assert all(held > 0 for held, _ in held_and_cost)  # (the fake's usage is scripted, not the prompt's)
    # The provider was told the most it may write: the worst case the budget held.
    key = "max_completion_tokens" if provider == "openai" else "max_tokens"
    assert [r[key] for r in server.requests] == [64, 64]
