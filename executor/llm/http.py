"""The shared provider transport: one JSON POST, a per-request timeout, bounded retries.

Every provider sends its requests through :class:`ProviderTransport` so retry
and error behaviour is the same for all of them: 408/409/429/5xx and
connection failures or timeouts are retried with exponential backoff and
jitter, a ``Retry-After``/``retry-after-ms`` hint replaces the backoff, other
4xx fail at once. Failures leave as :mod:`executor.llm.errors` types.

The ``httpx.AsyncClient`` belongs to the caller (the composition root), so one
connection pool serves every model; ``sleep`` is injectable so tests can
check the waits without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from executor.llm.errors import (
    ModelError,
    ProviderInfo,
    from_response,
    from_transport_error,
    malformed_response,
)
from executor.llm.model import ModelResponse, ToolChoice
from executor.llm.types import Message, ToolSpec

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


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
        self.info = info
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._sleep = sleep

    async def post_json(
        self, url: str, body: Mapping[str, Any], *, headers: Mapping[str, str], model: str
    ) -> dict[str, Any]:
        retry = 0
        while True:
            outcome = await self._attempt(url, body, headers, model)
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
            response = await self.client.post(url, json=body, headers=dict(headers), timeout=self.timeout)
        except (httpx.TransportError, httpx.InvalidURL) as exc:
            return from_transport_error(self.info, exc, timeout=self.timeout)
        if not response.is_success:
            return from_response(self.info, response, model=model, api_key=self._api_key)
        try:
            data = response.json()
        except ValueError as exc:
            return malformed_response(self.info, f"invalid JSON: {exc}")
        if not isinstance(data, dict):
            return malformed_response(self.info, f"expected an object, got {type(data).__name__}")
        return data

    def _delay_before_retry(self, error: ModelError, retry: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        if not error.retryable or retry >= self.retry.max_retries:
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.retry.max_delay else None
        return self.retry.backoff(retry)


def json_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else empty: provider JSON is read leniently."""
    return value if isinstance(value, dict) else {}


def json_int(value: Any) -> int:
    """``value`` if it is an integer (token counts), else 0 (missing or null)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class HTTPChatModel(ABC):
    """What the providers share: each call is one POST of a JSON body through
    ``ProviderTransport`` (retries, typed errors). A subclass sets
    ``provider``, ``model``, ``url``, ``_headers`` and ``_http`` and says how
    to build the body and read the reply."""

    provider: ClassVar[str]
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
    ) -> ModelResponse:
        body = self.request_body(messages, tools, tool_choice=tool_choice)
        data = await self._http.post_json(self.url, body, headers=self._headers, model=self.model)
        try:
            return self._parse(data)
        except ModelError as error:
            log.warning("%s at %s: %s", self.name, self.url, error)
            raise

    @abstractmethod
    def request_body(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, tool_choice: ToolChoice = "auto"
    ) -> dict[str, Any]:
        """The API's JSON for one call."""

    @abstractmethod
    def _parse(self, data: dict[str, Any]) -> ModelResponse:
        """The API's reply as a ModelResponse."""
