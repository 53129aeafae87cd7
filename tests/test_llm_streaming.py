"""Streamed answers: both providers over real SSE from the loopback fake servers.

The contract under test (``executor.llm`` docstring): with ``on_delta`` the
answer arrives piece by piece, and the response is the one the same call
returns unstreamed; a stream that breaks off after a delta raises
``StreamInterruptedError`` and is not retried.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from executor.compact import MeteredModel
from executor.llm.anthropic import AnthropicModel
from executor.llm.errors import (
    BadRequestError,
    ModelError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from executor.llm.http import HTTPChatModel, sse_events
from executor.llm.model import ModelResponse, StreamDelta, TextDelta, ToolCallDelta
from executor.llm.openai import OpenAIChatModel
from executor.llm.scripted import ScriptedModel, calls, cut_off, text, tool_call
from executor.llm.types import AssistantMessage, Message, ToolCall, ToolResultMessage, ToolSpec, Usage, UserMessage
from tests.fakes.model_servers import SERVERS, FakeModelServer, RecordedSleep, Reply
from tests.provider_fixtures import client, sleep, validator  # noqa: F401  (fixtures)

KEY = "sk-test-secret-123456"
CALC = ToolSpec(
    "calculator",
    "Evaluate an arithmetic expression.",
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
)
WEATHER = ToolSpec("weather", "Weather for a city.", {"type": "object", "properties": {"city": {"type": "string"}}})
CLOCK = ToolSpec("clock", "The time in a zone.", {"type": "object", "properties": {"zone": {"type": "string"}}})
ANSWER = "Paris is the capital of France; it has been since 987, give or take a few centuries."


@dataclass
class Wire:
    """One provider and its fake server, on one HTTP transport."""

    api: str
    server: FakeModelServer
    model: HTTPChatModel


def make_model(api: str, client: httpx.AsyncClient, server: FakeModelServer, sleep: RecordedSleep, **kw: Any) -> Any:
    if api == "openai":
        return OpenAIChatModel(client, "gpt-4o", KEY, server.base_url, sleep=sleep, **kw)
    return AnthropicModel(client, "claude-sonnet-4-5", KEY, server.base_url, sleep=sleep, **kw)


@pytest.fixture(params=["openai", "anthropic"])
async def wire(
    request: pytest.FixtureRequest, client: httpx.AsyncClient, sleep: RecordedSleep
) -> AsyncIterator[Wire]:
    async with SERVERS[request.param](chunk_chars=3) as server:
        yield Wire(request.param, server, make_model(request.param, client, server, sleep))


def ask(question: str = "What is the capital of France?") -> list[Message]:
    return [UserMessage(question)]


async def streamed(
    model: Any, messages: list[Message], tools: Iterable[ToolSpec] = (), **kw: Any
) -> tuple[ModelResponse, list[StreamDelta]]:
    deltas: list[StreamDelta] = []
    response = await model.complete(messages, list(tools), on_delta=deltas.append, **kw)
    return response, deltas


def streamed_text(deltas: list[StreamDelta]) -> str:
    return "".join(d.text for d in deltas if isinstance(d, TextDelta))


def tool_deltas(deltas: list[StreamDelta]) -> list[tuple[int, str]]:
    return [(d.index, d.name) for d in deltas if isinstance(d, ToolCallDelta)]


# -- the streamed response is the unstreamed one ------------------------------

PARALLEL = (
    ToolCall("c1", "calculator", '{"expression": "6*7"}'),
    ToolCall("c2", "weather", '{"city": "Zürich"}'),
    ToolCall("c3", "clock", '{"zone": "Europe/Paris"}'),
)


@pytest.mark.parametrize(
    "reply",
    [
        Reply.text(ANSWER, usage=Usage(input_tokens=120, output_tokens=21)),
        Reply.text("Jä, 🙂 — ünïcode\nand a second line", usage=Usage(input_tokens=9, output_tokens=7)),
        Reply.tool_calls(*PARALLEL, content="Let me check three things.", usage=Usage(80, 30)),
        Reply.tool_call("calculator", '{"expression": "1+', id="bad", usage=Usage(5, 5)),  # invalid JSON, kept
    ],
    ids=["text", "unicode", "parallel-tools", "invalid-arguments"],
)
async def test_streamed_response_equals_the_unstreamed_one(wire: Wire, reply: Reply) -> None:
    wire.server.script(reply, reply)
    response, deltas = await streamed(wire.model, ask(), [CALC, WEATHER, CLOCK])
    plain = await wire.model.complete(ask(), [CALC, WEATHER, CLOCK])
    assert response == plain
    assert streamed_text(deltas) == plain.message.content == reply.content
    assert tool_deltas(deltas) == [(i, c.name) for i, c in enumerate(reply.calls)]
    assert response.message.tool_calls == plain.message.tool_calls and len(plain.message.tool_calls) == len(reply.calls)
    # Several pieces, not the answer in one: the server cut it every 3 characters.
    assert len(deltas) >= len(reply.content) // 3 + len(reply.calls)
    stream_body, plain_body = wire.server.requests
    assert stream_body.pop("stream") is True
    if wire.api == "openai":
        assert stream_body.pop("stream_options") == {"include_usage": True}
    assert stream_body == plain_body


async def test_text_comes_before_the_tool_calls_in_order(wire: Wire) -> None:
    wire.server.script(Reply.tool_calls(*PARALLEL, content="Checking."))
    _, deltas = await streamed(wire.model, ask(), [CALC, WEATHER, CLOCK])
    kinds = [type(d).__name__ for d in deltas]
    assert kinds == ["TextDelta"] * kinds.count("TextDelta") + ["ToolCallDelta"] * 3
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Che", "cki", "ng."]


async def test_openai_parallel_tool_calls_are_assembled_by_index_from_fragments(
    client: httpx.AsyncClient, sleep: RecordedSleep
) -> None:
    """Fragments of several calls interleaved, as some compatible servers send them."""

    def chunk(index: int, **function: str) -> str:
        call: dict[str, Any] = {"index": index, "function": function}
        if "name" in function:
            call |= {"id": f"call_{index}", "type": "function"}
        return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}) + "\n\n"

    events = [
        chunk(0, name="calculator", arguments=""),
        chunk(1, name="weather", arguments='{"ci'),
        chunk(0, arguments='{"expres'),
        chunk(1, arguments='ty": "Oslo"}'),
        chunk(0, arguments='sion": "2+2"}'),
        chunk(2, name="clock"),  # no arguments at all: read as {}
        'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}\n\n',
        "data: [DONE]\n\n",
    ]
    async with SERVERS["openai"]() as server:
        server.script(Reply.raw("".join(events), content_type="text/event-stream"))
        response, deltas = await streamed(make_model("openai", client, server, sleep), ask(), [CALC, WEATHER, CLOCK])
    assert response.message.tool_calls == (
        ToolCall("call_0", "calculator", '{"expression": "2+2"}'),
        ToolCall("call_1", "weather", '{"city": "Oslo"}'),
        ToolCall("call_2", "clock", "{}"),
    )
    assert response.stop_reason == "tool_calls"
    assert tool_deltas(deltas) == [(0, "calculator"), (1, "weather"), (2, "clock")]


async def test_anthropic_tool_input_is_parsed_from_its_json_fragments(
    client: httpx.AsyncClient, sleep: RecordedSleep
) -> None:
    async with SERVERS["anthropic"](chunk_chars=1) as server:
        model = make_model("anthropic", client, server, sleep)
        arguments = {"expression": "(1+2)*3", "note": "ünï"}
        server.script(Reply.tool_call("calculator", arguments, id="toolu_1"))
        response, deltas = await streamed(model, ask(), [CALC])
        [sent] = server.received
    assert response.message.tool_calls == (ToolCall("toolu_1", "calculator", json.dumps(arguments, ensure_ascii=False)),)
    assert response.message.tool_calls[0].parsed_arguments() == arguments
    assert tool_deltas(deltas) == [(0, "calculator")]
    assert sent.body["stream"] is True


async def test_anthropic_events_this_client_does_not_use_are_skipped(
    client: httpx.AsyncClient, sleep: RecordedSleep
) -> None:
    def event(kind: str, **fields: Any) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n"

    usage = {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": None}
    events = [
        event("message_start", message={"content": [], "usage": usage}),
        ": a comment line\n\n",
        event("ping"),
        event("content_block_start", index=0, content_block={"type": "redacted_thinking", "data": "opaque"}),
        event("content_block_stop", index=0),
        event("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        event("content_block_delta", index=1, delta={"type": "text_delta", "text": "See "}),
        event("content_block_delta", index=1, delta={"type": "citations_delta", "citation": {"cited_text": "x"}}),
        event("content_block_delta", index=1, delta={"type": "text_delta", "text": "page 2."}),
        event("content_block_stop", index=1),
        event("a_future_event", anything=True),
        # Newer API versions repeat the input counts here, cumulatively.
        event("message_delta", delta={"stop_reason": "end_turn"}, usage={"input_tokens": 12, "output_tokens": 7}),
        event("message_stop"),
    ]
    async with SERVERS["anthropic"]() as server:
        server.script(Reply.raw("".join(events), content_type="text/event-stream"))
        response, deltas = await streamed(make_model("anthropic", client, server, sleep), ask())
    assert response == ModelResponse(AssistantMessage("See page 2."), Usage(12, 7, requests=1), "end_turn")
    assert deltas == [TextDelta("See "), TextDelta("page 2.")]


# -- usage ------------------------------------------------------------------


@pytest.mark.parametrize(
    "api, counted",
    [
        # OpenAI: the include_usage chunk after the finish reason.
        ("openai", Usage(50, 42, reasoning_tokens=12, cached_tokens=1000, requests=1)),
        # Anthropic: the prompt's counts in message_start (output_tokens=1 there),
        # replaced by message_delta's cumulative output_tokens.
        ("anthropic", Usage(1250, 42, cached_tokens=1000, cache_write_tokens=200, requests=1)),
    ],
)
async def test_usage_is_counted(api: str, counted: Usage, client: httpx.AsyncClient, sleep: RecordedSleep) -> None:
    usage = Usage(input_tokens=50, output_tokens=42, reasoning_tokens=12, cached_tokens=1000, cache_write_tokens=200)
    async with SERVERS[api]() as server:
        server.script(Reply.text(ANSWER, usage=usage))
        response, _ = await streamed(make_model(api, client, server, sleep), ask())
    assert response.usage == counted


# -- deltas arrive while the answer is being written --------------------------


async def test_deltas_arrive_before_the_answer_is_finished(wire: Wire) -> None:
    """The server writes a few events, then waits until the test has seen
    deltas: if the client buffered the body, the call would never end (the
    outer timeout only bounds that failure)."""
    wire.server.script(Reply.text(ANSWER, hold_after=6))
    deltas: list[StreamDelta] = []
    before_the_end: list[StreamDelta] = []

    def on_delta(delta: StreamDelta) -> None:
        deltas.append(delta)
        if len(deltas) == 3:
            before_the_end.extend(deltas)
            wire.server.release()

    async with asyncio.timeout(20):
        response = await wire.model.complete(ask(), on_delta=on_delta)
    assert [d.text for d in before_the_end if isinstance(d, TextDelta)] == ["Par", "is ", "is "]
    assert len(deltas) > len(before_the_end)
    assert streamed_text(deltas) == response.message.content == ANSWER


# -- a stream that breaks off ------------------------------------------------


@pytest.mark.parametrize("cut", ["drop", "end", "error"])
async def test_a_stream_cut_off_midway_raises_and_gives_no_answer(wire: Wire, sleep: RecordedSleep, cut: Any) -> None:
    wire.server.script(Reply.text(ANSWER, cut_after=8, cut=cut), Reply.text("a retry would get this"))
    deltas: list[StreamDelta] = []
    with pytest.raises(StreamInterruptedError) as caught:
        await wire.model.complete(ask(), on_delta=deltas.append)
    error = caught.value
    partial = streamed_text(deltas)
    assert partial and ANSWER.startswith(partial) and partial != ANSWER
    assert len(wire.server.requests) == 1 and sleep.calls == []  # not retried after a delta
    assert error.retryable is False and error.provider == wire.api
    assert isinstance(error, ProviderUnavailableError)
    assert "midway" in error.message and "127.0.0.1" not in error.message
    assert ("error event" in error.message) == (cut == "error")


async def test_a_break_before_any_delta_is_retried(wire: Wire, sleep: RecordedSleep) -> None:
    """The first event of each API carries no answer text, so nothing was
    delivered when the connection drops after it: the call is retried."""
    wire.server.script(
        Reply.text(ANSWER, cut_after=1),
        Reply.text(ANSWER, cut_after=1, cut="end"),
        Reply.text(ANSWER, cut_after=1, cut="error", error_code="overloaded_error"),
        Reply.text(ANSWER),
    )
    response, deltas = await streamed(wire.model, ask())
    assert response.message.content == streamed_text(deltas) == ANSWER
    assert len(wire.server.requests) == 4 and len(sleep.calls) == 3


async def test_an_error_event_before_any_delta_is_classified_like_the_http_error(
    wire: Wire, sleep: RecordedSleep
) -> None:
    code = "invalid_request_error"
    wire.server.script(Reply.text(ANSWER, cut_after=1, cut="error", error_code=code, error_message=f"bad {KEY}"))
    with pytest.raises(BadRequestError) as caught:
        await streamed(wire.model, ask())
    assert sleep.calls == [] and KEY not in str(caught.value) and "[bad ***]" in str(caught.value)
    limited = Reply.text(ANSWER, cut_after=1, cut="error", error_code="rate_limit_error")
    wire.server.script(*[limited] * 4)
    with pytest.raises(RateLimitError, match="rate limited"):
        await streamed(wire.model, ask())
    assert len(sleep.calls) == 3  # retried, as a 429 is


async def test_http_errors_before_the_stream_are_retried_as_usual(wire: Wire, sleep: RecordedSleep) -> None:
    wire.server.script(Reply.error(429, retry_after=2), Reply.text(ANSWER))
    response, deltas = await streamed(wire.model, ask())
    assert sleep.calls == [2.0] and response.message.content == streamed_text(deltas) == ANSWER


async def test_a_stalled_stream_is_interrupted_by_the_timeout(
    client: httpx.AsyncClient, sleep: RecordedSleep
) -> None:
    async with SERVERS["openai"]() as server:
        model = make_model("openai", client, server, sleep, timeout=0.5)
        server.script(Reply.text(ANSWER, hold_after=4))  # never released
        with pytest.raises(StreamInterruptedError, match="nothing came for 0.5s"):
            await streamed(model, ask())


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_an_event_that_is_not_json(
    api: str, client: httpx.AsyncClient, sleep: RecordedSleep
) -> None:
    first = {
        "openai": 'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n',
        "anthropic": 'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
        '"delta": {"type": "text_delta", "text": "Hel"}}\n\n',
    }[api]
    async with SERVERS[api]() as server:
        model = make_model(api, client, server, sleep)
        server.script(Reply.raw("data: <html>proxy error</html>\n\n", content_type="text/event-stream"))
        with pytest.raises(ModelError, match="not its API's JSON") as before:
            await streamed(model, ask())
        assert not isinstance(before.value, StreamInterruptedError)
        server.script(Reply.raw(first + "data: [1, 2]\n\n", content_type="text/event-stream"))
        with pytest.raises(StreamInterruptedError, match="an event was not the API's JSON"):
            await streamed(model, ask())


async def test_a_server_that_ignores_stream_answers_whole(wire: Wire) -> None:
    wire.server.streaming = False
    wire.server.script(Reply.text(ANSWER, usage=Usage(10, 5)), Reply.text(ANSWER, usage=Usage(10, 5)))
    response, deltas = await streamed(wire.model, ask())
    assert response == await wire.model.complete(ask())
    assert deltas == [] and response.message.content == ANSWER


async def test_an_exception_in_on_delta_propagates_and_is_not_retried(wire: Wire, sleep: RecordedSleep) -> None:
    wire.server.script(Reply.text(ANSWER))

    def on_delta(delta: StreamDelta) -> None:
        raise RuntimeError("the caller's bug")

    with pytest.raises(RuntimeError, match="the caller's bug"):
        await wire.model.complete(ask(), on_delta=on_delta)
    assert sleep.calls == [] and len(wire.server.requests) == 1


# -- Anthropic's thinking block ----------------------------------------------


async def test_anthropic_thinking_and_its_signature_survive_the_stream(
    client: httpx.AsyncClient, sleep: RecordedSleep
) -> None:
    async with SERVERS["anthropic"](chunk_chars=5) as server:
        model = make_model("anthropic", client, server, sleep, max_tokens=4096, thinking_budget=2048)
        thought = "The user wants the capital. France's capital is Paris, so I should check."
        server.script(
            Reply.tool_call("calculator", {"expression": "1"}, id="t1", reasoning=thought, signature="EqQBCkYIAR-sig"),
            Reply.text("Paris."),
        )
        first, deltas = await streamed(model, ask(), [CALC])
        assert first.message.reasoning == thought
        assert first.message.reasoning_signature == "EqQBCkYIAR-sig"
        assert streamed_text(deltas) == ""  # thinking is not answer text
        assert tool_deltas(deltas) == [(0, "calculator")]
        # The block goes back unchanged with the tool result (the fake rejects it without its signature).
        conversation = [*ask(), first.message, ToolResultMessage("t1", "calculator", "1")]
        final, _ = await streamed(model, conversation, [CALC])
        assert final.message.content == "Paris."
        assert server.requests[1]["messages"][1]["content"][0] == {
            "type": "thinking",
            "thinking": thought,
            "signature": "EqQBCkYIAR-sig",
        }


# -- OpenAI's request schema -------------------------------------------------


async def test_streamed_request_bodies_match_the_openai_schema(
    client: httpx.AsyncClient, sleep: RecordedSleep, validator: Draft202012Validator
) -> None:
    async with SERVERS["openai"]() as server:
        model = make_model("openai", client, server, sleep, max_completion_tokens=300)
        server.respond_with(lambda body: Reply.text("ok"))
        await streamed(model, ask())
        await streamed(model, ask(), [CALC, WEATHER], tool_choice="required")
        await streamed(model, [*ask(), AssistantMessage(tool_calls=PARALLEL[:1]), ToolResultMessage("c1", "calculator", "42")], [CALC])
    assert len(server.requests) == 3
    for body in server.requests:
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
        assert [e.message for e in validator.iter_errors(body)] == [], json.dumps(body)[:500]
    wrong = {**server.requests[0], "stream_options": {"include_usage": "yes"}}
    assert not validator.is_valid(wrong)
    assert not validator.is_valid({**server.requests[0], "stream": "true"})


# -- the SSE reader ----------------------------------------------------------


async def test_sse_events_follow_the_whatwg_rules() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [
            ": a comment, then a keep-alive",
            "",
            "event: first",
            "id: 7",
            "data: line one",
            "data:line two",
            "",
            "data: {}",
            "retry: 100",
            "",
            "event: cut",
            "data: never finished",
        ]:
            yield line

    assert [data async for data in sse_events(lines())] == ["line one\nline two", "{}"]


# -- the doubles: ScriptedModel and MeteredModel -----------------------------


async def test_scripted_model_streams_in_chunks_and_can_be_cut_off() -> None:
    model = ScriptedModel(
        [text("Hello there, friend."), calls(tool_call("calculator", {"expression": "2"}), content="Hm."), cut_off("Half an")],
        chunk_chars=6,
    )
    response, deltas = await streamed(model, ask())
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Hello ", "there,", " frien", "d."]
    assert response.message.content == "Hello there, friend."
    assert model.requests[0].streamed is True
    response, deltas = await streamed(model, ask(), [CALC])
    assert deltas == [TextDelta("Hm."), ToolCallDelta(0, "calculator")]
    deltas = []
    with pytest.raises(StreamInterruptedError):
        await model.complete(ask(), on_delta=deltas.append)
    assert streamed_text(deltas) == "Half an"
    with pytest.raises(ValueError, match="chunk_chars"):
        ScriptedModel([], chunk_chars=0)


async def test_scripted_model_unstreamed_is_unchanged() -> None:
    model = ScriptedModel([text("Hello."), cut_off("Hal")])
    assert (await model.complete(ask())).message.content == "Hello."
    assert model.requests[0].streamed is False
    with pytest.raises(StreamInterruptedError):
        await model.complete(ask())


async def test_metered_model_passes_the_stream_on() -> None:
    metered = MeteredModel(ScriptedModel([text("Summary so far.", usage=Usage(40, 6, requests=1))], chunk_chars=4))
    response, deltas = await streamed(metered, ask())
    assert streamed_text(deltas) == response.message.content == "Summary so far."
    assert metered.usage == Usage(40, 6, requests=1)
