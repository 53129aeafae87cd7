"""A two-tool-step agent through the executor on each provider's fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from executor import Config, Executor, RunnableAgent, RunStatus
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
