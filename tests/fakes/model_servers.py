"""Loopback fake model servers that speak the real OpenAI and Anthropic JSON over HTTP.

They let tests, end-to-end runs and benchmarks exercise the real providers
(``executor.llm.openai`` / ``executor.llm.anthropic``), the real retry code and
a real socket, with no key and no network.

In a test
---------
::

    async with FakeOpenAIServer() as srv, httpx.AsyncClient() as client:
        model = OpenAIChatModel(client, "gpt-4o-mini", base_url=srv.base_url)
        srv.script(
            Reply.tool_call("lookup", {"q": "cats"}),
            Reply.text("Cats are great.", usage=Usage(input_tokens=120, output_tokens=8)),
        )
        ...                                   # run the code under test
        assert srv.requests[1]["messages"][-1]["role"] == "tool"

``FakeAnthropicServer`` is used the same way (its ``base_url`` has no
``/v1``, like the real one). Both bind 127.0.0.1 on a random port unless
given ``port=``.

Choosing a reply, per request:

1. the next scripted :class:`Reply` (``srv.script(...)`` appends to a queue);
2. else the callback set with ``srv.respond_with(fn)``: ``fn(request_json)``
   returns a :class:`Reply` or a raw JSON dict (sync or async), so an
   end-to-end test can decide the answer from the conversation;
3. else the default mode: ``tool_steps`` tool-call turns (calling
   ``tool_name`` or the first tool offered, with arguments made from its
   schema's required fields), then ``final_text``. Tool turns are counted
   from the last real user message, so every new question starts over.

Replies are provider-neutral and rendered into each API's JSON::

    Reply.text("hi", usage=Usage(input_tokens=10, output_tokens=2, reasoning_tokens=1, cached_tokens=4))
    Reply.tool_call("name", {"a": 1})             # arguments: dict, or raw text (may be invalid JSON)
    Reply.tool_calls(ToolCall("c1", "a", "{}"), ToolCall("c2", "b", "{}"))   # parallel calls
    Reply.text("...", reasoning="thought", signature="sig")   # Anthropic thinking block
    Reply.error(429, retry_after=2)               # status, the API's error JSON, Retry-After
    Reply.error(503, retry_after_ms=1500)         # OpenAI's retry-after-ms header
    Reply.text("late", delay=5)                   # answer after 5 s: provokes client timeouts
    Reply.raw("not json")                         # any body, verbatim

Streaming
---------
A request with ``"stream": true`` gets the same reply over server-sent
events, in the API's own chunks: OpenAI's ``chat.completion.chunk`` deltas
(text, tool calls by index with argument fragments, the finish reason, the
usage chunk when ``stream_options.include_usage`` asks for it, ``[DONE]``);
Anthropic's ``message_start`` ... ``message_stop`` (a ``ping``, thinking with
its ``signature_delta``, text, tool_use with ``input_json_delta``, the
usage split between ``message_start`` and ``message_delta``). Text and
arguments are cut into ``chunk_chars`` pieces, ``chunk_delay_ms`` apart::

    FakeOpenAIServer(chunk_chars=3, chunk_delay_ms=20)      # drips tokens
    Reply.text("Hello there", cut_after=4)                  # 4 events, then the connection drops
    Reply.text("Hello there", cut_after=4, cut="end")       # 4 events, then a clean end, no final event
    Reply.text("Hello there", cut_after=4, cut="error", error_code="overloaded_error")  # the API's error event
    Reply.text("Hello there", hold_after=3)                 # 3 events, then waits for srv.release()

``hold_after`` lets a test see deltas arrive while the answer is still being
written, without timing anything. ``streaming=False`` plays a compatible
server that ignores ``stream`` and answers with the whole JSON. HTTP errors (``Reply.error``) come before
any event, as with the real APIs; ``Reply.raw(text, content_type=...)``
serves any body, for example hand-written events.

Usage numbers map one-to-one onto the API's fields (for Anthropic,
``input_tokens`` is the uncached part, ``cached_tokens`` is
``cache_read_input_tokens``, ``cache_write_tokens`` is
``cache_creation_input_tokens``); without ``usage`` a rough estimate is sent.

Providers take a ``sleep=`` argument; pass a :class:`RecordedSleep` to see
the retry waits (``sleep.calls``) without waiting them.

Every request is recorded before it is answered: ``srv.requests`` holds the
JSON bodies, ``srv.received`` adds path and headers. Requests the real API
would reject (a tool message answering no tool call, a tool_use without its
tool_result, an empty text block, a missing ``anthropic-version`` ...) get
the API's 400 error JSON, so conversion bugs fail loudly; pass
``validate=False`` to turn that off. With ``api_key=`` set, requests without
that key get a 401.

As a process (benchmarks)
-------------------------
::

    python -m tests.fakes.model_servers --api openai --port 8399 --latency-ms 50 --tool-steps 3

prints ``listening <base_url>`` once ready and serves the default mode until
interrupted; ``--port 0`` picks a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import json
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

from aiohttp import web

from executor.llm.types import ToolCall, Usage

JSON = dict[str, Any]
Handler = Callable[[JSON], "Reply | JSON | Awaitable[Reply | JSON]"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer, rendered into the serving API's JSON."""

    content: str = ""
    calls: tuple[ToolCall, ...] = ()
    reasoning: str = ""
    signature: str = ""
    usage: Usage | None = None
    stop_reason: str = ""
    status: int = 200
    error_message: str = ""
    error_code: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str | JSON | None = None
    content_type: str = "application/json"
    #: Streamed replies only: stop after this many events, then ``cut``.
    cut_after: int | None = None
    cut: Literal["drop", "end", "error"] = "drop"
    #: Streamed replies only: after this many events, wait for ``release()``.
    hold_after: int | None = None

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        """A final answer (``reasoning``/``signature`` add an Anthropic thinking block)."""
        return cls(content=content, **kw)

    @classmethod
    def tool_call(
        cls, name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str = "", **kw: Any
    ) -> Reply:
        args = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
        return cls(calls=(ToolCall(id, name, args),), **kw)

    @classmethod
    def tool_calls(cls, *calls: ToolCall, **kw: Any) -> Reply:
        """Parallel tool calls in one turn; empty ids are filled in by the server."""
        return cls(calls=calls, **kw)

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "",
        *,
        code: str = "",
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        **kw: Any,
    ) -> Reply:
        headers = dict(kw.pop("headers", {}))
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}" if isinstance(retry_after, float | int) else retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        message = message or f"fake error {status}"
        return cls(status=status, error_message=message, error_code=code, headers=headers, **kw)

    @classmethod
    def raw(cls, body: str | JSON, status: int = 200, **kw: Any) -> Reply:
        return cls(body=body, status=status, **kw)


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the server saw it."""

    path: str
    headers: Mapping[str, str]
    body: JSON


class FakeModelServer:
    """The shared machinery; use :class:`FakeOpenAIServer` or :class:`FakeAnthropicServer`."""

    api: ClassVar[str]
    route: ClassVar[str]
    id_prefix: ClassVar[str]

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        tool_steps: int = 0,
        tool_name: str | None = None,
        final_text: str = "Done.",
        validate: bool = True,
        api_key: str | None = None,
        chunk_chars: int = 4,
        chunk_delay_ms: float = 0.0,
        streaming: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.tool_steps = tool_steps
        self.tool_name = tool_name
        self.final_text = final_text
        self.validate = validate
        self.api_key = api_key
        self.chunk_chars = chunk_chars
        self.chunk_delay_ms = chunk_delay_ms
        self.streaming = streaming
        self.received: list[Received] = []
        self._script: list[Reply] = []
        self._handler: Handler | None = None
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._released = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post(self.route, self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop serving; replies still waiting out a ``delay`` end at once."""
        self._closing.set()
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """Scheme, host and port."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the provider's ``base_url`` should be set to."""
        raise NotImplementedError

    # -- scripting and inspection -------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Queue replies; each request takes the next one."""
        self._script.extend(replies)

    def respond_with(self, handler: Handler | None) -> None:
        """Answer unscripted requests with ``handler(request_json)`` (None: default mode)."""
        self._handler = handler

    def release(self) -> None:
        """Let a reply held by ``hold_after`` go on (one hold per call)."""
        self._released.set()

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        return len(self._script)

    @property
    def requests(self) -> list[JSON]:
        """The JSON bodies received, oldest first."""
        return [r.body for r in self.received]

    def reset(self) -> None:
        """Forget recorded requests, the script and the callback."""
        self.received.clear()
        self._script.clear()
        self._handler = None

    # -- serving -----------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._error_response(Reply.error(400, "We could not parse the JSON body of your request."))
        if not isinstance(body, dict):
            return self._error_response(Reply.error(400, "The request body must be a JSON object."))
        received = Received(request.path, dict(request.headers), body)
        self.received.append(received)
        if self.api_key is not None and not self._authorized(received):
            return self._error_response(Reply.error(401, "invalid x-api-key / Authorization"))
        problem = self._problem(received) if self.validate else None
        if problem:
            return self._error_response(Reply.error(400, problem))
        reply = await self._next_reply(body)
        await self._pause(self.latency_ms / 1000 + (reply.delay if isinstance(reply, Reply) else 0.0))
        if isinstance(reply, dict):
            return web.json_response(reply)
        if reply.body is not None:
            text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            return web.Response(text=text, status=reply.status, headers=reply.headers, content_type=reply.content_type)
        if reply.status >= 400:
            return self._error_response(reply)
        reply = self._with_ids(reply)
        if body.get("stream") and self.streaming:
            return await self._stream(request, self._events(body, reply), reply)
        return web.json_response(self._render(body, reply), headers=reply.headers)

    async def _stream(self, request: web.Request, events: list[str], reply: Reply) -> web.StreamResponse:
        """Writes ``events`` as server-sent events, cut and held as the reply says."""
        response = web.StreamResponse(
            headers={**reply.headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for i, event in enumerate(events[: reply.cut_after]):
            if i == reply.hold_after:
                await self._released.wait()
                self._released.clear()
            await response.write(event.encode())
            await self._pause(self.chunk_delay_ms / 1000)
        if reply.cut_after is not None and reply.cut == "drop":
            assert request.transport is not None
            request.transport.close()  # mid-body: the client sees the connection lost
            return response
        if reply.cut_after is not None and reply.cut == "error":
            await response.write(self._error_event(reply).encode())
        await response.write_eof()
        return response

    def _pieces(self, text: str) -> list[str]:
        return [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]

    async def _next_reply(self, body: JSON) -> Reply | JSON:
        if self._script:
            return self._script.pop(0)
        if self._handler is not None:
            result = self._handler(body)
            return await result if inspect.isawaitable(result) else result
        return self._default_reply(body)

    def _default_reply(self, body: JSON) -> Reply:
        tools = self._offered_tools(body)
        if self._tool_turns(body) >= self.tool_steps or not tools:
            return Reply.text(self.final_text)
        name = self.tool_name if self.tool_name in tools else next(iter(tools))
        return Reply.tool_call(name, example_arguments(tools[name]))

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            try:
                await asyncio.wait_for(self._closing.wait(), seconds)
            except TimeoutError:
                pass

    def _with_ids(self, reply: Reply) -> Reply:
        calls = tuple(c if c.id else replace(c, id=f"{self.id_prefix}{next(self._ids)}") for c in reply.calls)
        return replace(reply, calls=calls)

    def _error_response(self, reply: Reply) -> web.Response:
        return web.json_response(self._render_error(reply), status=reply.status, headers=reply.headers)

    def _estimate_usage(self, body: JSON, reply: Reply) -> Usage:
        """Roughly 4 characters a token, like the executor's own estimate."""
        produced = reply.content + reply.reasoning + "".join(c.name + c.arguments for c in reply.calls)
        return Usage(input_tokens=len(json.dumps(body)) // 4, output_tokens=len(produced) // 4 + 1)

    # -- per API -----------------------------------------------------------

    def _authorized(self, received: Received) -> bool:
        raise NotImplementedError

    def _problem(self, received: Received) -> str | None:
        """The API's 400 message for a request it would reject, else None."""
        raise NotImplementedError

    def _render(self, body: JSON, reply: Reply) -> JSON:
        raise NotImplementedError

    def _render_error(self, reply: Reply) -> JSON:
        raise NotImplementedError

    def _events(self, body: JSON, reply: Reply) -> list[str]:
        """The reply as the API's stream: encoded events, the final one last."""
        raise NotImplementedError

    def _error_event(self, reply: Reply) -> str:
        """The API's error event inside a stream (``error_code``/``error_message``)."""
        raise NotImplementedError

    def _offered_tools(self, body: JSON) -> dict[str, JSON]:
        """Tool name -> JSON schema of its parameters."""
        raise NotImplementedError

    def _tool_turns(self, body: JSON) -> int:
        """Tool-call turns since the last real user message."""
        raise NotImplementedError


class FakeOpenAIServer(FakeModelServer):
    """``POST /v1/chat/completions`` with OpenAI's request and response JSON."""

    api = "openai"
    route = "/v1/chat/completions"
    id_prefix = "call_"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def _authorized(self, received: Received) -> bool:
        return received.headers.get("Authorization") == f"Bearer {self.api_key}"

    def _problem(self, received: Received) -> str | None:
        body = received.body
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "you must provide a model parameter"
        if "stream_options" in body and not body.get("stream"):
            return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "Invalid 'messages': empty array. Expected an array with minimum length 1."
        if not body.get("tools"):
            for key in ("tool_choice", "parallel_tool_calls"):
                if key in body:
                    return f"Invalid value for '{key}': only allowed when 'tools' are specified."
        pending: list[str] = []
        for i, m in enumerate(messages):
            role = m.get("role") if isinstance(m, dict) else None
            if role not in ("system", "developer", "user", "assistant", "tool"):
                return f"Invalid value for 'messages[{i}].role': {role!r}."
            if role == "tool":
                if m.get("tool_call_id") not in pending:
                    return (
                        f"Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                        f"message with 'tool_calls' (messages[{i}])."
                    )
                pending.remove(m["tool_call_id"])
                continue
            if pending:
                return (
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                    "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                    + ", ".join(pending)
                )
            if role == "assistant":
                pending = [c.get("id") for c in m.get("tool_calls") or []]
            elif "content" not in m:
                return f"Missing required parameter: 'messages[{i}].content'."
        if pending:
            return f"The following tool_call_ids did not have response messages: {', '.join(pending)}"
        return None

    def _render(self, body: JSON, reply: Reply) -> JSON:
        usage = reply.usage or self._estimate_usage(body, reply)
        message: JSON = {"role": "assistant", "content": reply.content or None, "refusal": None}
        if reply.calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.calls
            ]
        n = next(self._ids)
        return {
            "id": f"chatcmpl-fake{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self._finish_reason(reply),
                }
            ],
            "usage": self._usage_json(usage),
            "system_fingerprint": "fp_fake",
        }

    def _events(self, body: JSON, reply: Reply) -> list[str]:
        header = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "system_fingerprint": "fp_fake",
        }
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: JSON, finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return _sse({**header, "choices": [choice], **({"usage": None} if with_usage else {})})

        events = [chunk({"role": "assistant", "content": "", "refusal": None})]
        events += [chunk({"content": piece}) for piece in self._pieces(reply.content)]
        for index, c in enumerate(reply.calls):
            function = {"name": c.name, "arguments": ""}
            events.append(chunk({"tool_calls": [{"index": index, "id": c.id, "type": "function", "function": function}]}))
            events += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in self._pieces(c.arguments)
            ]
        events.append(chunk({}, self._finish_reason(reply)))
        if with_usage:
            usage = reply.usage or self._estimate_usage(body, reply)
            events.append(_sse({**header, "choices": [], "usage": self._usage_json(usage)}))
        return [*events, "data: [DONE]\n\n"]

    def _error_event(self, reply: Reply) -> str:
        message = reply.error_message or "The server had an error while processing your request."
        return _sse({"error": {"message": message, "type": reply.error_code or "server_error", "param": None, "code": None}})

    @staticmethod
    def _finish_reason(reply: Reply) -> str:
        return reply.stop_reason or ("tool_calls" if reply.calls else "stop")

    @staticmethod
    def _usage_json(usage: Usage) -> JSON:
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": usage.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def _render_error(self, reply: Reply) -> JSON:
        kind = {401: "invalid_request_error", 429: "requests"}.get(reply.status, "")
        if not kind:
            kind = "server_error" if reply.status >= 500 else "invalid_request_error"
        error = {"message": reply.error_message, "type": kind, "param": None, "code": reply.error_code or None}
        return {"error": error}

    def _offered_tools(self, body: JSON) -> dict[str, JSON]:
        tools = body.get("tools") or []
        return {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools}

    def _tool_turns(self, body: JSON) -> int:
        turns = 0
        previous_role = ""
        for m in body.get("messages", []):
            if m.get("role") == "user" and previous_role != "tool":
                turns = 0  # a real question, not the images that follow tool results
            elif m.get("role") == "assistant" and m.get("tool_calls"):
                turns += 1
            previous_role = m.get("role", "")
        return turns


class FakeAnthropicServer(FakeModelServer):
    """``POST /v1/messages`` with Anthropic's request and response JSON."""

    api = "anthropic"
    route = "/v1/messages"
    id_prefix = "toolu_fake"

    @property
    def base_url(self) -> str:
        return self.url

    def _authorized(self, received: Received) -> bool:
        return received.headers.get("x-api-key") == self.api_key

    def _problem(self, received: Received) -> str | None:
        body = received.body
        if "anthropic-version" not in received.headers:
            return "anthropic-version: header is required"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: Field required"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        thinking = body.get("thinking")
        if thinking and thinking.get("budget_tokens", 0) >= body["max_tokens"]:
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        open_calls: list[str] = []
        for i, m in enumerate(messages):
            role = m.get("role")
            if role not in ("user", "assistant"):
                return (
                    f'messages.{i}.role: Unexpected role "{role}". The Messages API accepts a top-level '
                    "`system` parameter, not \"system\" as an input message role."
                )
            content = m.get("content")
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if not blocks:
                return f"messages.{i}: all messages must have non-empty content"
            for block in blocks:
                if block.get("type") == "text" and not block.get("text"):
                    return f"messages.{i}: text content blocks must be non-empty"
                if block.get("type") == "thinking" and not block.get("signature"):
                    return f"messages.{i}: thinking blocks must carry their signature"
            results = [str(b.get("tool_use_id")) for b in blocks if b.get("type") == "tool_result"]
            if open_calls and sorted(results) != sorted(open_calls):
                return (
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(sorted(set(open_calls) - set(results)))}"
                )
            if results and (set(results) - set(open_calls)):
                return f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks"
            kinds = [b.get("type") for b in blocks]
            if results and kinds[: len(results)] != ["tool_result"] * len(results):
                return f"messages.{i}: `tool_result` blocks must come first in the user message"
            open_calls = [b["id"] for b in blocks if b.get("type") == "tool_use"] if role == "assistant" else []
        if open_calls:
            return f"`tool_use` ids were found without `tool_result` blocks: {', '.join(open_calls)}"
        return None

    def _render(self, body: JSON, reply: Reply) -> JSON:
        usage = reply.usage or self._estimate_usage(body, reply)
        content: list[JSON] = []
        if reply.reasoning or reply.signature:
            content.append({"type": "thinking", "thinking": reply.reasoning, "signature": reply.signature})
        if reply.content:
            content.append({"type": "text", "text": reply.content})
        for c in reply.calls:
            try:
                arguments: Any = json.loads(c.arguments)
            except ValueError:
                arguments = c.arguments  # the real API never does this; it tests leniency
            content.append({"type": "tool_use", "id": c.id, "name": c.name, "input": arguments})
        return {
            "id": f"msg_fake{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": content,
            "stop_reason": self._stop_reason(reply),
            "stop_sequence": None,
            "usage": self._usage_json(usage),
        }

    def _events(self, body: JSON, reply: Reply) -> list[str]:
        usage = reply.usage or self._estimate_usage(body, reply)
        message = {
            "id": f"msg_fake{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # As the real API does: the prompt's counts here, the output's in message_delta.
            "usage": {**self._usage_json(usage), "output_tokens": 1},
        }
        events = [_event("message_start", message=message), _event("ping")]
        blocks: list[tuple[JSON, list[JSON]]] = []  # (content_block_start, its deltas)
        if reply.reasoning or reply.signature:
            deltas = [{"type": "thinking_delta", "thinking": p} for p in self._pieces(reply.reasoning)]
            blocks.append(({"type": "thinking", "thinking": ""}, [*deltas, {"type": "signature_delta", "signature": reply.signature}]))
        if reply.content:
            blocks.append(({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in self._pieces(reply.content)]))
        for c in reply.calls:
            fragments = ["", *self._pieces(c.arguments)]  # the real API opens with an empty fragment
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in fragments]
            blocks.append(({"type": "tool_use", "id": c.id, "name": c.name, "input": {}}, deltas))
        for index, (start, deltas) in enumerate(blocks):
            events.append(_event("content_block_start", index=index, content_block=start))
            events += [_event("content_block_delta", index=index, delta=d) for d in deltas]
            events.append(_event("content_block_stop", index=index))
        stop = {"stop_reason": self._stop_reason(reply), "stop_sequence": None}
        events.append(_event("message_delta", delta=stop, usage={"output_tokens": usage.output_tokens}))
        return [*events, _event("message_stop")]

    def _error_event(self, reply: Reply) -> str:
        error = {"type": reply.error_code or "overloaded_error", "message": reply.error_message or "Overloaded"}
        return _event("error", error=error)

    @staticmethod
    def _stop_reason(reply: Reply) -> str:
        return reply.stop_reason or ("tool_use" if reply.calls else "end_turn")

    @staticmethod
    def _usage_json(usage: Usage) -> JSON:
        return {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cached_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
        }

    def _render_error(self, reply: Reply) -> JSON:
        kind = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(reply.status, "api_error" if reply.status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": reply.error_code or kind, "message": reply.error_message}}

    def _offered_tools(self, body: JSON) -> dict[str, JSON]:
        return {t["name"]: t.get("input_schema") or {} for t in body.get("tools") or []}

    def _tool_turns(self, body: JSON) -> int:
        turns = 0
        for m in body.get("messages", []):
            content = m.get("content")
            blocks = content if isinstance(content, list) else []
            kinds = {b.get("type") for b in blocks}
            if m.get("role") == "user" and "tool_result" not in kinds:
                turns = 0
            elif m.get("role") == "assistant" and "tool_use" in kinds:
                turns += 1
        return turns


def _sse(data: JSON) -> str:
    """One ``data:`` event, as OpenAI sends them."""
    return f"data: {json.dumps(data)}\n\n"


def _event(kind: str, **fields: Any) -> str:
    """One named event, as Anthropic sends them (the name repeated as ``type``)."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n"


class RecordedSleep:
    """An injectable ``sleep`` for providers: records each wait and returns at
    once, so retry tests check the delays without spending them."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


SERVERS: dict[str, type[FakeModelServer]] = {"openai": FakeOpenAIServer, "anthropic": FakeAnthropicServer}


def example_arguments(schema: Mapping[str, Any]) -> JSON:
    """Arguments that satisfy a tool schema's required fields, for the default mode."""
    properties = schema.get("properties") or {}
    return {name: _example_value(properties.get(name) or {}) for name in schema.get("required") or []}


def _example_value(schema: Mapping[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return {
        "integer": 1,
        "number": 1,
        "boolean": True,
        "array": [],
        "object": example_arguments(schema),
        "null": None,
    }.get(str(kind), "example")


async def _serve(args: argparse.Namespace) -> None:
    server = SERVERS[args.api](
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        tool_steps=args.tool_steps,
        tool_name=args.tool_name,
        final_text=args.final_text,
        chunk_chars=args.chunk_chars,
        chunk_delay_ms=args.chunk_delay_ms,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"listening {server.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.model_servers", description=__doc__.split("\n")[0])
    parser.add_argument("--api", choices=sorted(SERVERS), default="openai")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added before every answer")
    parser.add_argument("--tool-steps", type=int, default=0, help="tool-call turns before the final answer")
    parser.add_argument("--tool-name", default=None, help="tool to call (default: the first offered)")
    parser.add_argument("--final-text", default="Done.")
    parser.add_argument("--chunk-chars", type=int, default=4, help="characters per streamed text piece")
    parser.add_argument("--chunk-delay-ms", type=float, default=0.0, help="pause between streamed events")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
