"""OpenAIChatModel against the loopback fake server, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from executor.llm.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ImageRejectedError,
    ModelError,
    ProviderUnavailableError,
    RateLimitError,
)
from executor.llm.http import RetryPolicy
from executor.llm.openai import OpenAIChatModel
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
from tests.fakes.model_servers import FakeOpenAIServer, RecordedSleep, Reply
from tests.provider_fixtures import client, sleep, validator  # noqa: F401  (fixtures)

PNG = Image(b"\x89PNG\r\n\x1a\nfake", "image/png")
CALC = ToolSpec(
    "calculator",
    "Evaluate an arithmetic expression.",
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
)
WEATHER = ToolSpec("weather", "Weather for a city.", {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def model(client: httpx.AsyncClient, server: FakeOpenAIServer, sleep: RecordedSleep) -> OpenAIChatModel:
    return OpenAIChatModel(client, "gpt-4o-mini", "sk-test-secret-123456", server.base_url, sleep=sleep)


def ask(text: str = "What is 2+2?") -> list[Message]:
    return [SystemMessage("You are terse."), UserMessage(text)]


async def test_text_answer(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    server.script(Reply.text("4"))
    response = await model.complete(ask())
    assert response.message == AssistantMessage("4")
    assert response.stop_reason == "stop"
    assert model.name == "openai/gpt-4o-mini"
    [sent] = server.received
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer sk-test-secret-123456"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    }


async def test_no_api_key_sends_no_authorization(client: httpx.AsyncClient, server: FakeOpenAIServer) -> None:
    ollama = OpenAIChatModel(client, "llama3.1:8b", base_url=server.base_url + "/")
    server.script(Reply.text("hi"))
    assert (await ollama.complete(ask())).message.content == "hi"
    assert "Authorization" not in server.received[0].headers
    assert server.requests[0]["model"] == "llama3.1:8b"


async def test_tool_call_and_tool_options(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    server.script(Reply.tool_call("calculator", {"expression": "2+2"}, id="call_a"))
    response = await model.complete(ask(), [CALC], tool_choice="required")
    assert response.message.tool_calls == (ToolCall("call_a", "calculator", '{"expression": "2+2"}'),)
    assert response.stop_reason == "tool_calls"
    body = server.requests[0]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "calculator", "description": CALC.description, "parameters": CALC.parameters},
        }
    ]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is True


async def test_parallel_tool_calls_and_their_results_go_back_in_order(
    client: httpx.AsyncClient, server: FakeOpenAIServer
) -> None:
    model = OpenAIChatModel(client, "gpt-4o", base_url=server.base_url, parallel_tool_calls=False)
    server.script(
        Reply.tool_calls(
            ToolCall("c1", "calculator", '{"expression":"1+1"}'), ToolCall("c2", "weather", '{"city":"Oslo"}')
        ),
        Reply.text("2, and cold"),
    )
    first = await model.complete(ask(), [CALC, WEATHER])
    assert [c.id for c in first.message.tool_calls] == ["c1", "c2"]
    assert server.requests[0]["parallel_tool_calls"] is False
    conversation = [
        *ask(),
        first.message,
        ToolResultMessage("c1", "calculator", "2"),
        ToolResultMessage("c2", "weather", "-3C", is_error=False),
    ]
    final = await model.complete(conversation, [CALC, WEATHER])
    assert final.message.content == "2, and cold"
    sent = server.requests[1]["messages"]
    assert sent[2] == {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression":"1+1"}'}},
            {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}},
        ],
    }
    assert sent[3:] == [
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
        {"role": "tool", "tool_call_id": "c2", "content": "-3C"},
    ]


async def test_user_images_are_data_urls(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    server.script(Reply.text("a cat"))
    await model.complete([UserMessage("What is this?", images=(PNG,))])
    [message] = server.requests[0]["messages"]
    assert message["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgpmYWtl"}},
    ]
    assert message["content"][1]["image_url"]["url"] == PNG.data_url()


async def test_tool_result_images_follow_all_tool_messages(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    conversation: list[Message] = [
        UserMessage("Screenshot both pages"),
        AssistantMessage(tool_calls=(ToolCall("s1", "shot", "{}"), ToolCall("s2", "shot", "{}"))),
        ToolResultMessage("s1", "shot", "page one", images=(PNG,)),
        ToolResultMessage("s2", "shot", "page two"),
    ]
    server.script(Reply.text("done"))
    await model.complete(conversation, [ToolSpec("shot", "Take a screenshot.")])
    sent = server.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    assert sent[4]["content"] == [
        {"type": "text", "text": "Images returned by tool shot (call s1):"},
        {"type": "image_url", "image_url": {"url": PNG.data_url()}},
    ]


async def test_usage_includes_reasoning_and_cached_tokens(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    usage = Usage(input_tokens=1200, output_tokens=300, reasoning_tokens=256, cached_tokens=1024)
    server.script(Reply.text("ok", usage=usage))
    response = await model.complete(ask())
    assert response.usage == Usage(
        input_tokens=1200, output_tokens=300, reasoning_tokens=256, cached_tokens=1024, requests=1
    )


async def test_429_waits_for_retry_after_then_succeeds(
    model: OpenAIChatModel, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    server.script(Reply.error(429, "Rate limit reached", retry_after=2), Reply.text("ok"))
    assert (await model.complete(ask())).message.content == "ok"
    assert sleep.calls == [2.0]
    assert len(server.requests) == 2


async def test_retry_after_ms_wins_over_retry_after(
    model: OpenAIChatModel, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    server.script(Reply.error(503, retry_after=20, retry_after_ms=1500), Reply.text("ok"))
    await model.complete(ask())
    assert sleep.calls == [1.5]


async def test_500_then_success_backs_off_within_policy(
    client: httpx.AsyncClient, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    policy = RetryPolicy(max_retries=3, base_delay=0.2)
    model = OpenAIChatModel(client, "gpt-4o", base_url=server.base_url, retry=policy, sleep=sleep)
    server.script(Reply.error(500), Reply.error(502), Reply.text("ok"))
    assert (await model.complete(ask())).message.content == "ok"
    assert len(server.requests) == 3
    first, second = sleep.calls
    assert 0.1 <= first <= 0.2
    assert 0.2 <= second <= 0.4


async def test_persistent_5xx_gives_up_after_max_retries(
    model: OpenAIChatModel, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    server.script(*[Reply.error(500, "boom")] * 4, Reply.text("never"))
    with pytest.raises(ProviderUnavailableError) as info:
        await model.complete(ask())
    assert len(server.requests) == 4
    assert len(sleep.calls) == 3
    assert info.value.status == 500 and info.value.provider == "openai"
    assert server.pending == 1


async def test_timeout_is_retried_then_reported(client: httpx.AsyncClient, server: FakeOpenAIServer) -> None:
    sleep = RecordedSleep()
    model = OpenAIChatModel(
        client, "gpt-4o", base_url=server.base_url, timeout=0.2, retry=RetryPolicy(max_retries=1), sleep=sleep
    )
    server.script(Reply.text("late", delay=30), Reply.text("late", delay=30))
    with pytest.raises(ProviderUnavailableError) as info:
        await model.complete(ask())
    assert "MODEL_TIMEOUT" in str(info.value)
    assert len(server.requests) == 2
    assert len(sleep.calls) == 1


async def test_401_is_not_retried_and_names_the_key_variable(
    model: OpenAIChatModel, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    server.script(
        Reply.error(401, "Incorrect API key provided: sk-test-secret-123456.", code="invalid_api_key"),
        Reply.text("never"),
    )
    with pytest.raises(AuthenticationError) as info:
        await model.complete(ask())
    assert len(server.requests) == 1
    assert sleep.calls == []
    assert "OPENAI_API_KEY" in str(info.value)
    assert "sk-test-secret-123456" not in str(info.value)
    assert "sk-test" not in repr(model)


async def test_error_messages_never_carry_the_key(
    client: httpx.AsyncClient, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    model = OpenAIChatModel(client, "gpt-4o", "hunter2hunter2", server.base_url, sleep=sleep)
    server.script(Reply.error(400, "bad header 'Bearer hunter2hunter2'"))
    with pytest.raises(BadRequestError) as info:
        await model.complete(ask())
    assert "hunter2" not in str(info.value) and "Bearer ***" in str(info.value)


async def test_server_checked_key(client: httpx.AsyncClient) -> None:
    async with FakeOpenAIServer(api_key="right") as srv:
        wrong = OpenAIChatModel(client, "gpt-4o", "wrong", srv.base_url)
        with pytest.raises(AuthenticationError):
            await wrong.complete(ask())
        srv.script(Reply.text("ok"))
        right = OpenAIChatModel(client, "gpt-4o", "right", srv.base_url)
        assert (await right.complete(ask())).message.content == "ok"


async def test_context_too_long_is_its_own_error(
    model: OpenAIChatModel, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    server.script(
        Reply.error(400, "This model's maximum context length is 128000 tokens.", code="context_length_exceeded")
    )
    with pytest.raises(ContextTooLongError) as info:
        await model.complete(ask())
    assert "MODEL_CONTEXT_WINDOWS" in str(info.value)
    assert sleep.calls == []


async def test_quota_exhausted_is_not_retried(
    model: OpenAIChatModel, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    server.script(Reply.error(429, "You exceeded your current quota.", code="insufficient_quota"))
    with pytest.raises(RateLimitError) as info:
        await model.complete(ask())
    assert not info.value.retryable and sleep.calls == []
    assert "billing" in str(info.value)


async def test_retry_after_beyond_the_cap_fails_at_once(
    model: OpenAIChatModel, server: FakeOpenAIServer, sleep: RecordedSleep
) -> None:
    server.script(Reply.error(429, retry_after=3600), Reply.text("never"))
    with pytest.raises(RateLimitError) as info:
        await model.complete(ask())
    assert sleep.calls == [] and info.value.retry_after == 3600
    assert "retry after 3600s" in str(info.value)


async def test_other_4xx_is_a_bad_request(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    server.script(Reply.error(404, "The model `gpt-9` does not exist"))
    with pytest.raises(BadRequestError) as info:
        await model.complete(ask())
    assert "MODEL_TIERS" in str(info.value) and "gpt-9" in str(info.value)
    assert len(server.requests) == 1


async def test_unreachable_server_is_retried_then_names_the_setting_and_logs_the_url(
    client: httpx.AsyncClient, sleep: RecordedSleep, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeOpenAIServer() as gone:
        url = gone.base_url + "/lan-only"
    model = OpenAIChatModel(client, "gpt-4o", base_url=url, retry=RetryPolicy(max_retries=2), sleep=sleep)
    with caplog.at_level("WARNING", logger="executor.llm.http"), pytest.raises(ProviderUnavailableError) as info:
        await model.complete(ask())
    assert "OPENAI_BASE_URL" in str(info.value) and "could not reach openai" in str(info.value)
    host = httpx.URL(url).host
    assert host not in str(info.value) and "lan-only" not in str(info.value)  # members see these messages
    assert len(sleep.calls) == 2
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 3 and all(url in line for line in logged) and "giving up" in logged[-1]


async def test_a_body_that_is_not_the_api_json_is_a_model_error(
    model: OpenAIChatModel, server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script(Reply.raw("<html>proxy login</html>"), Reply.raw({"unexpected": True}))
    with caplog.at_level("WARNING", logger="executor.llm.http"):
        for _ in range(2):
            with pytest.raises(ModelError) as info:
                await model.complete(ask())
            assert "OPENAI_BASE_URL" in str(info.value) and server.base_url not in str(info.value)
    assert [server.base_url in r.getMessage() for r in caplog.records] == [True, True]


async def test_a_proxy_page_naming_the_host_does_not_carry_it_into_the_error(
    model: OpenAIChatModel, server: FakeOpenAIServer
) -> None:
    host = httpx.URL(server.base_url).host
    server.script(Reply.raw(f"<html>upstream {host} is down</html>", status=400))
    with pytest.raises(BadRequestError) as info:
        await model.complete(ask())
    assert host not in str(info.value) and "upstream [provider host] is down" in str(info.value)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Invalid image.", "invalid_image_format"),
        ("You uploaded an unsupported image. Please make sure your image is below 20 MB", ""),
        ("messages.0.content.0.image.source.base64: image exceeds 5 MB maximum", "invalid_request_error"),
    ],
)
async def test_a_400_about_an_image_is_its_own_error(
    model: OpenAIChatModel, server: FakeOpenAIServer, message: str, code: str
) -> None:
    server.script(Reply.error(400, message, code=code), Reply.error(400, "messages: field required"))
    with pytest.raises(ImageRejectedError) as info:
        await model.complete(ask())
    assert "refused an image" in str(info.value) and not info.value.retryable
    with pytest.raises(BadRequestError) as other:
        await model.complete(ask())
    assert not isinstance(other.value, ImageRejectedError)


async def test_invalid_tool_argument_json_arrives_raw(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    broken = '{"expression": "2+'
    server.script(Reply.tool_call("calculator", broken, id="bad"), Reply.text("sorry"))
    response = await model.complete(ask(), [CALC])
    [call] = response.message.tool_calls
    assert call.arguments == broken
    with pytest.raises(ValueError, match="not valid JSON"):
        call.parsed_arguments()
    # The raw text goes back to the model unchanged, next to the tool error.
    retry = [*ask(), response.message, ToolResultMessage("bad", "calculator", call.arguments, is_error=True)]
    await model.complete(retry, [CALC])
    assert server.requests[1]["messages"][2]["tool_calls"][0]["function"]["arguments"] == broken


async def test_tool_arguments_sent_as_an_object_are_kept_as_text(
    model: OpenAIChatModel, server: FakeOpenAIServer
) -> None:
    wire_call = {"function": {"name": "calculator", "arguments": {"expression": "1"}}}
    message = {"role": "assistant", "content": None, "tool_calls": [wire_call]}
    server.script(Reply.raw({"choices": [{"message": message, "finish_reason": "tool_calls"}]}))
    [call] = (await model.complete(ask(), [CALC])).message.tool_calls
    assert call == ToolCall("call_0", "calculator", '{"expression": "1"}')


# -- the fake server itself ---------------------------------------------------


async def test_fake_default_mode_runs_tool_steps_then_answers(client: httpx.AsyncClient) -> None:
    async with FakeOpenAIServer(tool_steps=2, final_text="all done") as srv:
        model = OpenAIChatModel(client, "gpt-4o", base_url=srv.base_url)
        conversation: list[Message] = ask()
        for _ in range(5):
            response = await model.complete(conversation, [CALC])
            conversation.append(response.message)
            if not response.message.tool_calls:
                break
            [call] = response.message.tool_calls
            assert call.parsed_arguments() == {"expression": "example"}
            conversation.append(ToolResultMessage(call.id, call.name, "1"))
        assert response.message.content == "all done"
        assert len(srv.requests) == 3
        # A new question starts the count again.
        conversation.append(UserMessage("again"))
        assert (await model.complete(conversation, [CALC])).message.tool_calls


async def test_fake_callback_decides_from_the_conversation(
    model: OpenAIChatModel, server: FakeOpenAIServer
) -> None:
    async def echo(body: dict[str, Any]) -> Reply:
        return Reply.text(body["messages"][-1]["content"].upper())

    server.respond_with(echo)
    assert (await model.complete(ask("shout"))).message.content == "SHOUT"
    server.respond_with(lambda body: {"choices": [{"message": {"content": "raw"}, "finish_reason": "stop"}]})
    assert (await model.complete(ask())).message.content == "raw"


async def test_fake_rejects_a_tool_message_without_its_call(model: OpenAIChatModel, server: FakeOpenAIServer) -> None:
    with pytest.raises(BadRequestError, match="must be a response to a preceeding message"):
        await model.complete([UserMessage("hi"), ToolResultMessage("nope", "calculator", "1")])
    with pytest.raises(BadRequestError, match="did not have response messages: c1"):
        await model.complete([UserMessage("hi"), AssistantMessage(tool_calls=(ToolCall("c1", "calculator"),))])


# -- every request body we send matches OpenAI's published request schema -----


async def test_every_request_body_matches_the_openai_schema(
    client: httpx.AsyncClient, server: FakeOpenAIServer, validator: Draft202012Validator
) -> None:
    capped = OpenAIChatModel(client, "gpt-4o", "k", server.base_url, max_completion_tokens=500)
    plain = OpenAIChatModel(client, "llama3.1:8b", base_url=server.base_url)
    calls = (ToolCall("c1", "calculator", '{"expression": "1+"}'), ToolCall("c2", "weather", '{"city": "Rome"}'))
    shapes: list[tuple[OpenAIChatModel, list[Message], list[ToolSpec], Any]] = [
        (plain, ask(), [], "auto"),
        (capped, [UserMessage("", images=(PNG,)), UserMessage("and this?", images=(PNG, PNG))], [CALC], "required"),
        (
            plain,
            [
                *ask(),
                AssistantMessage("Let me check.", tool_calls=calls),
                ToolResultMessage("c1", "calculator", "invalid JSON", is_error=True),
                ToolResultMessage("c2", "weather", "", images=(PNG,)),
                AssistantMessage("Rome is sunny."),
                UserMessage("thanks"),
            ],
            [CALC, WEATHER],
            "none",
        ),
        (capped, [AssistantMessage(reasoning="hidden"), UserMessage("go on")], [WEATHER], "auto"),
    ]
    server.respond_with(lambda body: Reply.text("ok"))
    for model, messages, tools, choice in shapes:
        await model.complete(messages, tools, tool_choice=choice)
    assert len(server.requests) == len(shapes)
    for body in server.requests:
        errors = [e.message for e in validator.iter_errors(body)]
        assert errors == [], json.dumps(body)[:500]


@pytest.mark.parametrize(
    "wrong",
    [
        {"model": "gpt-4o", "messages": []},
        {"messages": [{"role": "user", "content": "hi"}]},
        {"model": "gpt-4o", "messages": [{"role": "robot", "content": "hi"}]},
        {"model": "gpt-4o", "messages": [{"role": "tool", "content": "2"}]},
        {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "sometimes"},
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "tools": [{"function": {"name": "x"}}]},
    ],
)
def test_the_schema_rejects_wrong_bodies(validator: Draft202012Validator, wrong: dict[str, Any]) -> None:
    assert not validator.is_valid(wrong)


async def test_refusals_and_compatible_reasoning_fields_are_read(
    model: OpenAIChatModel, server: FakeOpenAIServer
) -> None:
    refusal = {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    thinking = {"role": "assistant", "content": "42", "reasoning_content": "6 times 7"}
    for message in (refusal, thinking):
        server.script(Reply.raw({"choices": [{"message": message, "finish_reason": "stop"}]}))
    assert (await model.complete(ask())).message.content == "I can't help with that."
    answer = (await model.complete(ask())).message
    assert (answer.content, answer.reasoning) == ("42", "6 times 7")
