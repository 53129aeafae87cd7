"""The shared provider transport: one JSON POST or one SSE stream, a per-request timeout, bounded retries.

Every provider sends its requests through :class:`ProviderTransport` so retry
and error behaviour is the same for all of them: 408/409/429/5xx and
connection failures or timeouts are retried with exponential backoff and
jitter, a ``Retry-After``/``retry-after-ms`` hint replaces the backoff, other
4xx fail at once. Failures leave as :mod:`executor.llm.errors` types.

A streamed call (:meth:`ProviderTransport.post_stream`) reads server-sent
events through a provider's :class:`StreamAssembler`, which delivers deltas
as they come and rebuilds the JSON body the same call returns unstreamed, so
one parser serves both and the responses are equal by construction. It is
retried only while no delta has been delivered; after that a break (the
connection drops, an error event, no final event) is a
``StreamInterruptedError``. The timeout bounds each wait for data, not the
whole answer: the run's own runtime limit does that.

The ``httpx.AsyncClient`` belongs to the caller (the composition root), so one
connection pool serves every model; ``sleep`` is injectable so tests can
check the waits without waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
import orjson

from executor.llm.errors import (
    ModelError,
    ProviderInfo,
    from_response,
    from_stream_error,
    from_transport_error,
    malformed_response,
    stream_interrupted,
)
from executor.llm.model import ModelResponse, OnDelta, StreamDelta, ToolChoice
from executor.llm.types import Message, ToolSpec

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

#: The header of every request body (see ``_json``).
_JSON = {"Content-Type": "application/json"}


def _json(body: Mapping[str, Any]) -> bytes:
    """A request body, encoded by orjson: the stdlib's encoder took 55 us for
    an 11-turn body, more than the rest of the loop's own work on a model
    call; orjson takes a tenth of that. Its output is what httpx's ``json=``
    sends (compact, UTF-8, no ASCII escapes)."""
    return orjson.dumps(body)


@runtime_checkable
class DirectPost(Protocol):
    """An ``httpx.AsyncClient`` that can also send one POST past its client
    layer (``bot.http.Client``): the model call is the hot path, and httpx's
    request machinery cost more CPU than the agent loop around it. It raises
    httpx's exceptions and answers any status but 2xx as an ``httpx.Response``
    read whole, so errors read the same as through ``client.post``; a 2xx
    answer is its body alone, all a provider reads of a success."""

    async def post_bytes(
        self, url: str, content: bytes, headers: Mapping[str, str], timeout: float
    ) -> bytes | httpx.Response: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``max_delay`` caps the backoff and the ``Retry-After`` hint honoured: a
    provider asking for a longer wait fails the call at once instead of
    holding a run hostage.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, retry: int) -> float:
        """Delay before retry number ``retry`` (0-based): ``base * 2**retry``,
        capped, then scaled into [50 %, 100 %] so clients do not retry in step."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        return ceiling * random.uniform(0.5, 1.0)


class ProviderTransport:
    """POSTs JSON to one provider and returns the decoded JSON object."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        info: ProviderInfo,
        *,
        api_key: str = "",
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client = client
        self._post = client.post_bytes if isinstance(client, DirectPost) else self._post_through_httpx
        self.info = info
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._sleep = sleep

    async def post_json(
        self, url: str, body: Mapping[str, Any], *, headers: Mapping[str, str], model: str
    ) -> dict[str, Any]:
        return await self._with_retries(url, model, lambda: self._attempt(url, body, headers, model))

    async def post_stream(
        self,
        url: str,
        body: Mapping[str, Any],
        *,
        headers: Mapping[str, str],
        model: str,
        assembler: Callable[[OnDelta], StreamAssembler],
        on_delta: OnDelta,
    ) -> dict[str, Any]:
        """POSTs a streaming request; returns the JSON body the stream amounts to.

        Deltas reach ``on_delta`` as they arrive. A failed attempt is retried
        (with a fresh assembler) only if it delivered none; one that did raises
        ``StreamInterruptedError``. A server that ignores the request to stream
        and answers with plain JSON is read as such, with no deltas.
        """
        return await self._with_retries(
            url, model, lambda: self._stream_attempt(url, body, headers, model, assembler(on_delta))
        )

    async def _with_retries(
        self, url: str, model: str, attempt: Callable[[], Awaitable[dict[str, Any] | ModelError]]
    ) -> dict[str, Any]:
        retry = 0
        while True:
            outcome = await attempt()
            if isinstance(outcome, dict):
                return outcome
            error = outcome
            delay = self._delay_before_retry(error, retry)
            # The one place the URL is told: errors leave without it (members see them).
            cause = f" ({type(error.__cause__).__name__}: {error.__cause__})" if error.__cause__ else ""
            then = "giving up" if delay is None else f"retry {retry + 1}/{self.retry.max_retries} in {delay:.2f}s"
            log.warning("%s %s at %s failed: %s%s; %s", self.info.name, model, url, error, cause, then)
            if delay is None:
                raise error
            await self._sleep(delay)
            retry += 1

    async def _attempt(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], model: str
    ) -> dict[str, Any] | ModelError:
        """One request: the JSON object on success, else the translated error."""
        try:
            response = await self._post(url, _json(body), {**headers, **_JSON}, self.timeout)
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            return from_transport_error(self.info, exc, timeout=self.timeout)
        if isinstance(response, bytes):
            return self._decoded(response)
        if not response.is_success:
            return from_response(self.info, response, model=model, api_key=self._api_key)
        return self._decoded(response.content)

    async def _post_through_httpx(
        self, url: str, content: bytes, headers: Mapping[str, str], timeout: float
    ) -> httpx.Response:
        return await self.client.post(url, content=content, headers=headers, timeout=timeout)

    def _decoded(self, body: bytes) -> dict[str, Any] | ModelError:
        try:
            data = orjson.loads(body)
        except ValueError as exc:  # orjson.JSONDecodeError is one
            return malformed_response(self.info, f"invalid JSON: {exc}")
        if not isinstance(data, dict):
            return malformed_response(self.info, f"expected an object, got {type(data).__name__}")
        return data

    async def _stream_attempt(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], model: str, stream: StreamAssembler
    ) -> dict[str, Any] | ModelError:
        """One streamed request: the rebuilt JSON body, else the translated error."""
        try:
            async with self.client.stream(
                "POST", url, content=_json(body), headers={**headers, **_JSON}, timeout=self.timeout
            ) as response:
                if not response.is_success:
                    await response.aread()
                    return from_response(self.info, response, model=model, api_key=self._api_key)
                if not _is_event_stream(response):  # a compatible server that answers whole
                    await response.aread()
                    return self._decoded(response.content)
                # Read to the end even after the final event, so the connection goes back to the pool.
                async for data in sse_events(response.aiter_lines()):
                    if not stream.finished:
                        stream.feed(data)
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            if not stream.delivered:
                return from_transport_error(self.info, exc, timeout=self.timeout)
            stalled = isinstance(exc, httpx.TimeoutException)
            why = f"nothing came for {self.timeout:g}s" if stalled else "connection lost"
            return stream_interrupted(self.info, why, delivered=True, cause=exc)
        except StreamErrorEvent as event:
            return from_stream_error(
                self.info, event.error, model=model, api_key=self._api_key, delivered=stream.delivered
            )
        except ModelError as error:  # an event that is not the API's JSON
            if not stream.delivered:
                return error
            return stream_interrupted(self.info, "an event was not the API's JSON", delivered=True, cause=error)
        if stream.finished:
            return stream.body()
        return stream_interrupted(self.info, "the stream ended without its final event", delivered=stream.delivered)

    def _delay_before_retry(self, error: ModelError, retry: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if not error.retryable or retry >= self.retry.max_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.retry.max_delay else None
        return self.retry.backoff(retry)


def _is_event_stream(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


async def sse_events(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """The data of each server-sent event in a body's lines, by the WHATWG
    rules: ``data:`` lines join with newlines, a blank line ends an event,
    lines starting with ``:`` are comments, and an event the body ends in the
    middle of is dropped. ``event:`` names are not kept (Anthropic repeats
    them as the data's ``type``; OpenAI sends none), nor ``id``/``retry``
    (nothing is resumed)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
            data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))


class StreamErrorEvent(Exception):
    """The API's own error event inside a stream; the transport translates it
    (it knows the model and the key to redact)."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.error = error


class StreamAssembler(ABC):
    """Turns one API's stream events back into the JSON body the same call
    returns unstreamed, handing deltas to :meth:`deliver` as the answer
    grows. One per attempt, so a retry starts clean."""

    info: ClassVar[ProviderInfo]

    def __init__(self, on_delta: OnDelta) -> None:
        self._on_delta = on_delta
        #: A delta reached the caller: from now on the attempt cannot be retried.
        self.delivered = False
        #: The API's final event was seen: the body is complete.
        self.finished = False

    def deliver(self, delta: StreamDelta) -> None:
        self.delivered = True
        self._on_delta(delta)

    @abstractmethod
    def feed(self, data: str) -> None:
        """Take the next event's data. Raises ``StreamErrorEvent`` for the API's error
        event and ``ModelError`` for an event that is not the API's JSON."""

    @abstractmethod
    def body(self) -> dict[str, Any]:
        """The unstreamed response JSON; only called once ``finished``."""

    def event_json(self, data: str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise malformed_response(self.info, f"invalid JSON in a stream event: {exc}") from None
        if not isinstance(value, dict):
            raise malformed_response(self.info, f"a stream event is {type(value).__name__}, not an object")
        return value


def json_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else empty: provider JSON is read leniently."""
    return value if isinstance(value, dict) else {}


def json_int(value: Any) -> int:
    """``value`` if it is an integer (token counts), else 0 (missing or null)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class HTTPChatModel(ABC):
    """What the providers share: each call is one POST of a JSON body through
    ``ProviderTransport`` (retries, typed errors). A subclass sets
    ``provider``, ``model``, ``url``, ``_headers`` and ``_http``, says how
    to build the body and read the reply, and for streaming which fields ask
    for it and which assembler reads it."""

    provider: ClassVar[str]
    stream_fields: ClassVar[Mapping[str, Any]]
    stream_assembler: ClassVar[type[StreamAssembler]]
    model: str
    url: str
    _headers: dict[str, str]
    _http: ProviderTransport

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, url={self.url!r})"

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        tool_choice: ToolChoice = "auto",
        on_delta: OnDelta | None = None,
    ) -> ModelResponse:
        body = self.request_body(messages, tools, tool_choice=tool_choice)
        if on_delta is None:
            data = await self._http.post_json(self.url, body, headers=self._headers, model=self.model)
        else:
            body.update(self.stream_fields)
            data = await self._http.post_stream(
                self.url,
                body,
                headers=self._headers,
                model=self.model,
                assembler=self.stream_assembler,
                on_delta=on_delta,
            )
        try:
            return self._parse(data)
        except ModelError as error:
            log.warning("%s at %s: %s", self.name, self.url, error)
            raise

    @abstractmethod
    def request_body(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, tool_choice: ToolChoice = "auto"
    ) -> dict[str, Any]:
        """The API's JSON for one unstreamed call."""

    @abstractmethod
    def _parse(self, data: dict[str, Any]) -> ModelResponse:
        """The API's reply as a ModelResponse."""
