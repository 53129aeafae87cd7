"""AnthropicModel against the loopback fake server, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from executor.llm.anthropic import AnthropicModel
from executor.llm.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ProviderUnavailableError,
    parse_retry_after,
)
from executor.llm.http import RetryPolicy
from executor.llm.model import ToolChoice
from executor.llm.types import (
    AssistantMessage,
    Image,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
)
from tests.fakes.model_servers import FakeAnthropicServer, RecordedSleep, Reply
from tests.provider_fixtures import client, sleep  # noqa: F401  (fixtures)

PNG = Image(b"\x89PNG\r\n\x1a\nfake", "image/png")
SEARCH = ToolSpec(
    "search", "Search the web.", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
)
FETCH = ToolSpec("fetch", "Fetch a page.", {"type": "object", "properties": {"url": {"type": "string"}}})


@pytest.fixture
async def server() -> AsyncIterator[FakeAnthropicServer]:
    async with FakeAnthropicServer() as srv:
        yield srv


@pytest.fixture
def model(client: httpx.AsyncClient, server: FakeAnthropicServer, sleep: RecordedSleep) -> AnthropicModel:
    return AnthropicModel(
        client, "claude-sonnet-4-5", "sk-ant-test-key-0000", server.base_url, max_tokens=1024, sleep=sleep
    )


def ask(text: str = "Find cats") -> list[Message]:
    return [SystemMessage("You are terse."), UserMessage(text)]


async def test_text_answer_headers_and_top_level_system(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    server.script(Reply.text("Cats found."))
    response = await model.complete(ask())
    assert response.message == AssistantMessage("Cats found.")
    assert response.stop_reason == "end_turn"
    assert model.name == "anthropic/claude-sonnet-4-5"
    [sent] = server.received
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test-key-0000"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Find cats"}]}],
    }


async def test_later_system_messages_stay_in_place_as_user_text(
    model: AnthropicModel, server: FakeAnthropicServer
) -> None:
    server.script(Reply.text("ok"))
    await model.complete([*ask(), AssistantMessage("Working."), SystemMessage("Reminder: answer now.")])
    body = server.requests[0]
    assert body["system"] == "You are terse."
    assert body["messages"][-1] == {"role": "user", "content": [{"type": "text", "text": "Reminder: answer now."}]}


async def test_tools_and_tool_choice_mapping(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    server.respond_with(lambda body: Reply.text("ok"))
    choices: list[tuple[ToolChoice, str]] = [("auto", "auto"), ("required", "any"), ("none", "none")]
    for choice, wire in choices:
        await model.complete(ask(), [SEARCH], tool_choice=choice)
        assert server.requests[-1]["tool_choice"] == {"type": wire}
    assert server.requests[0]["tools"] == [
        {"name": "search", "description": "Search the web.", "input_schema": SEARCH.parameters}
    ]
    await model.complete(ask())
    assert "tools" not in server.requests[-1] and "tool_choice" not in server.requests[-1]


async def test_parallel_tool_use_and_merged_tool_results(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    server.script(
        Reply.tool_calls(ToolCall("t1", "search", '{"q": "cats"}'), ToolCall("t2", "fetch", '{"url": "x"}')),
        Reply.text("Here."),
    )
    first = await model.complete(ask(), [SEARCH, FETCH])
    assert first.message.tool_calls == (
        ToolCall("t1", "search", '{"q": "cats"}'),
        ToolCall("t2", "fetch", '{"url": "x"}'),
    )
    assert first.stop_reason == "tool_use"
    conversation = [
        *ask(),
        first.message,
        ToolResultMessage("t1", "search", "3 results"),
        ToolResultMessage("t2", "fetch", "", is_error=True),
        UserMessage("Also, be brief."),
    ]
    await model.complete(conversation, [SEARCH, FETCH])
    sent = server.requests[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "search", "input": {"q": "cats"}},
        {"type": "tool_use", "id": "t2", "name": "fetch", "input": {"url": "x"}},
    ]
    assert sent[2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "t1",
            "is_error": False,
            "content": [{"type": "text", "text": "3 results"}],
        },
        {"type": "tool_result", "tool_use_id": "t2", "is_error": True},
        {"type": "text", "text": "Also, be brief."},
    ]


async def test_a_message_between_tool_use_and_results_still_puts_results_first(
    model: AnthropicModel, server: FakeAnthropicServer
) -> None:
    server.script(Reply.text("ok"))
    steered = [
        *ask(),
        AssistantMessage(tool_calls=(ToolCall("t1", "search", "{}"),)),
        UserMessage("Actually, search dogs next."),
        ToolResultMessage("t1", "search", "cats"),
    ]
    await model.complete(steered, [SEARCH])
    assert [b["type"] for b in server.requests[0]["messages"][2]["content"]] == ["tool_result", "text"]


async def test_images_are_base64_blocks_in_user_and_tool_result_content(
    model: AnthropicModel, server: FakeAnthropicServer
) -> None:
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG.b64()}}
    conversation: list[Message] = [
        UserMessage("What is on this page?", images=(PNG,)),
        AssistantMessage(tool_calls=(ToolCall("s1", "shot", "{}"),)),
        ToolResultMessage("s1", "shot", "screenshot", images=(PNG,)),
    ]
    server.script(Reply.text("A cat."))
    await model.complete(conversation, [ToolSpec("shot", "Screenshot.")])
    sent = server.requests[0]["messages"]
    assert sent[0]["content"] == [block, {"type": "text", "text": "What is on this page?"}]
    assert sent[2]["content"][0]["content"] == [{"type": "text", "text": "screenshot"}, block]
    assert PNG.b64() == "iVBORw0KGgpmYWtl"


async def test_usage_counts_cache_reads_and_writes(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    usage = Usage(input_tokens=50, output_tokens=20, cached_tokens=1000, cache_write_tokens=200)
    server.script(Reply.text("ok", usage=usage))
    response = await model.complete(ask())
    assert response.usage == Usage(
        input_tokens=1250, output_tokens=20, cached_tokens=1000, cache_write_tokens=200, requests=1
    )


async def test_thinking_blocks_round_trip(client: httpx.AsyncClient, server: FakeAnthropicServer) -> None:
    model = AnthropicModel(client, "claude-sonnet-4-5", "k", server.base_url, max_tokens=4096, thinking_budget=2048)
    server.script(
        Reply.tool_call("search", {"q": "cats"}, id="t1", reasoning="I should search.", signature="sig-abc"),
        Reply.text("Cats."),
    )
    first = await model.complete(ask(), [SEARCH], tool_choice="required")
    assert first.message.reasoning == "I should search."
    assert first.message.reasoning_signature == "sig-abc"
    body = server.requests[0]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["tool_choice"] == {"type": "auto"}  # forced tool use is refused with thinking
    await model.complete([*ask(), first.message, ToolResultMessage("t1", "search", "3 results")], [SEARCH])
    assert server.requests[1]["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "I should search.",
        "signature": "sig-abc",
    }


async def test_reasoning_without_signature_is_not_sent(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    server.script(Reply.text("ok"))
    await model.complete([*ask(), AssistantMessage("Sure.", reasoning="from another provider"), UserMessage("go")])
    assert server.requests[0]["messages"][1]["content"] == [{"type": "text", "text": "Sure."}]


def test_thinking_budget_must_fit_max_tokens(client: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="below max_tokens"):
        AnthropicModel(client, "claude-sonnet-4-5", "k", max_tokens=1024, thinking_budget=1024)


async def test_invalid_tool_arguments_arrive_raw_and_go_back_as_an_object(
    model: AnthropicModel, server: FakeAnthropicServer
) -> None:
    server.script(Reply.tool_call("search", '{"q": "ca', id="t1"), Reply.text("retrying"))
    first = await model.complete(ask(), [SEARCH])
    [call] = first.message.tool_calls
    assert call.arguments == '{"q": "ca'
    with pytest.raises(ValueError):
        call.parsed_arguments()
    retry = [*ask(), first.message, ToolResultMessage("t1", "search", "bad JSON", is_error=True)]
    await model.complete(retry, [SEARCH])
    assert server.requests[1]["messages"][1]["content"][0]["input"] == {"_invalid_json": '{"q": "ca'}


async def test_overloaded_529_with_retry_after_date_then_success(
    model: AnthropicModel, server: FakeAnthropicServer, sleep: RecordedSleep
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    server.script(Reply.error(529, "Overloaded", retry_after=when), Reply.text("ok"))
    assert (await model.complete(ask())).message.content == "ok"
    [waited] = sleep.calls
    assert 3.0 <= waited <= 5.0
    assert len(server.requests) == 2


async def test_429_retry_after_seconds(
    model: AnthropicModel, server: FakeAnthropicServer, sleep: RecordedSleep
) -> None:
    server.script(Reply.error(429, "Number of requests has exceeded your rate limit", retry_after=7), Reply.text("ok"))
    await model.complete(ask())
    assert sleep.calls == [7.0]


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": date}), now=now.timestamp()) == 30.0
    assert parse_retry_after(httpx.Headers({"retry-after": "1.5"})) == 1.5
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert parse_retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


async def test_401_not_retried_and_names_the_key_variable(
    model: AnthropicModel, server: FakeAnthropicServer, sleep: RecordedSleep
) -> None:
    server.script(Reply.error(401, "invalid x-api-key"), Reply.text("never"))
    with pytest.raises(AuthenticationError) as info:
        await model.complete(ask())
    assert len(server.requests) == 1 and sleep.calls == []
    assert "ANTHROPIC_API_KEY" in str(info.value)
    assert "sk-ant-test-key-0000" not in str(info.value)


async def test_prompt_too_long_is_context_error(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    server.script(Reply.error(400, "prompt is too long: 210000 tokens > 200000 maximum"))
    with pytest.raises(ContextTooLongError):
        await model.complete(ask())


async def test_timeouts_exhaust_retries(client: httpx.AsyncClient, server: FakeAnthropicServer) -> None:
    sleep = RecordedSleep()
    model = AnthropicModel(
        client, "claude-haiku-4-5", "k", server.base_url, timeout=0.2, retry=RetryPolicy(max_retries=1), sleep=sleep
    )
    server.script(Reply.text("late", delay=30), Reply.text("late", delay=30))
    with pytest.raises(ProviderUnavailableError, match="did not answer within 0.2s"):
        await model.complete(ask())
    assert len(server.requests) == 2 and len(sleep.calls) == 1


async def test_fake_rejects_a_tool_use_without_its_result(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    with pytest.raises(BadRequestError, match="without `tool_result` blocks"):
        await model.complete([*ask(), AssistantMessage(tool_calls=(ToolCall("t9", "search", "{}"),)), UserMessage("?")])


async def test_fake_default_mode_with_anthropic(client: httpx.AsyncClient) -> None:
    async with FakeAnthropicServer(tool_steps=1, tool_name="fetch") as srv:
        model = AnthropicModel(client, "claude-haiku-4-5", "k", srv.base_url)
        first = await model.complete(ask(), [SEARCH, FETCH])
        assert [c.name for c in first.message.tool_calls] == ["fetch"]
        done = await model.complete(
            [*ask(), first.message, ToolResultMessage(first.message.tool_calls[0].id, "fetch", "page")], [SEARCH, FETCH]
        )
        assert done.message.content == "Done."


async def test_403_names_the_key_and_model(model: AnthropicModel, server: FakeAnthropicServer) -> None:
    server.script(Reply.error(403, "Your key cannot use this model"))
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY may use model 'claude-sonnet-4-5'"):
        await model.complete(ask())


async def test_a_non_json_error_body_is_quoted(
    model: AnthropicModel, server: FakeAnthropicServer, sleep: RecordedSleep
) -> None:
    server.script(*[Reply.raw("<h1>502 Bad Gateway</h1>", status=502)] * 4)
    with pytest.raises(ProviderUnavailableError, match="502 Bad Gateway") as info:
        await model.complete(ask())
    assert info.value.retryable and len(sleep.calls) == 3


async def test_a_base_url_that_is_not_http_is_a_config_error(client: httpx.AsyncClient) -> None:
    sleep = RecordedSleep()
    model = AnthropicModel(client, "claude-haiku-4-5", "k", "ftp://example.invalid", sleep=sleep)
    with pytest.raises(BadRequestError, match="ANTHROPIC_BASE_URL"):
        await model.complete(ask())
    assert sleep.calls == []
