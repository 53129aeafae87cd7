"""Model provider errors: one hierarchy, one place that translates HTTP into it.

Providers never let an httpx exception or a raw status escape. The shared
transport (:mod:`executor.llm.http`) hands every failed response to
:func:`from_response`, every transport failure to :func:`from_transport_error`,
every error event inside a stream to :func:`from_stream_error`, and a stream
that breaks off to :func:`stream_interrupted`; those functions are the only
code that decides which class a failure is, whether it is worth retrying, and
what the message tells the operator to fix. Messages never contain the API
key, nor the provider's address (it can be a LAN host, and messages reach
members): the transport logs that.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass

import httpx

from executor.errors import ExecutorError

#: Key-like tokens providers echo back in auth errors (``sk-abc...xyz``).
_KEY_LIKE = re.compile(r"\b(sk-(?:ant-)?|key-)[A-Za-z0-9_\-*.]{4,}")
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "prompt is too long",
    "too many tokens",
    "maximum context",
)
_DETAIL_LIMIT = 300


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider's name and the settings an operator changes to fix it."""

    name: str
    key_env: str
    base_url_env: str


class ModelError(ExecutorError):
    """A model call failed. ``retryable`` tells the transport whether another
    attempt could succeed; ``retry_after`` is the provider's hint in seconds."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class AuthenticationError(ModelError):
    """401/403: the key is missing, wrong, or not allowed to use the model."""


class RateLimitError(ModelError):
    """429: too many requests (retryable) or quota exhausted (not retryable)."""


class ContextTooLongError(ModelError):
    """The prompt does not fit the model's context window."""


class BadRequestError(ModelError):
    """Any other 4xx: the request itself is wrong; retrying will not help."""


class ImageRejectedError(BadRequestError):
    """A 4xx about an image in the conversation (unreadable, too large, a type
    the model does not take): the host can drop the images and go on."""


class ProviderUnavailableError(ModelError):
    """5xx, 408/409, connection failures and timeouts, after the retries ran out."""


class StreamInterruptedError(ProviderUnavailableError):
    """A streamed answer broke off: the connection dropped, the provider sent
    an error event, or the stream ended without its final event. After a
    delta was delivered it is never retried (the caller has shown part of
    the answer) and what was delivered is not an answer: discard it."""


def redact(text: str, secret: str = "") -> str:
    """``text`` with the API key, and anything shaped like one, masked."""
    if secret:
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub(lambda m: m.group(1) + "***", text)


def from_response(
    info: ProviderInfo,
    response: httpx.Response,
    *,
    model: str,
    api_key: str = "",
    now: float | None = None,
) -> ModelError:
    """The error for a non-2xx response, with a message that says what to fix."""
    status = response.status_code
    code, detail = _error_detail(response)
    detail = _without_host(redact(detail, api_key), response)
    retry_after = parse_retry_after(response.headers, now=now)
    cls, fix, retryable = _classify(info, status, code, detail, model=model, has_key=bool(api_key))
    if cls is RateLimitError and retryable and retry_after is not None:
        fix = f"retry after {retry_after:g}s; {fix}"
    message = f"{info.name} (HTTP {status}): {fix}" + (f" [{detail}]" if detail else "")
    return cls(message, provider=info.name, status=status, retryable=retryable, retry_after=retry_after)


#: The HTTP status each API's error type stands for, to classify an error
#: event in a stream (which has no status of its own) as the response would be.
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "overloaded_error": 529,
}


def from_stream_error(
    info: ProviderInfo, error: object, *, model: str, api_key: str = "", delivered: bool = False
) -> ModelError:
    """The error for an error event in a stream (Anthropic's ``event: error``,
    OpenAI's ``{"error": ...}`` chunk). Before any delta it is classified as
    the matching HTTP error would be (an unknown type counts as a server
    error); after one, the answer broke off: ``StreamInterruptedError``."""
    fields = error if isinstance(error, dict) else {"message": str(error)}
    code = str(fields.get("code") or fields.get("type") or "") or "unknown"
    kind = str(fields.get("type") or "")
    detail = _clip(redact(str(fields.get("message") or code), api_key))
    if delivered:
        return stream_interrupted(info, f"error event {code}: {detail}", delivered=True)
    status = _STREAM_ERROR_STATUS.get(code) or _STREAM_ERROR_STATUS.get(kind) or 500
    cls, fix, retryable = _classify(info, status, code, detail, model=model, has_key=bool(api_key))
    return cls(f"{info.name} (stream error {code}): {fix} [{detail}]", provider=info.name, retryable=retryable)


def stream_interrupted(
    info: ProviderInfo, why: str, *, delivered: bool, cause: BaseException | None = None
) -> StreamInterruptedError:
    """The error for a stream that broke off; ``why`` must not hold the address
    (``cause``, kept for the log, may). Retryable only while nothing was delivered."""
    if delivered:
        message = f"{info.name} broke off its answer midway ({why}): the partial answer was dropped; try again"
    else:
        message = f"{info.name} broke off its answer before it began ({why}): try again later"
    error = StreamInterruptedError(message, provider=info.name, retryable=not delivered)
    error.__cause__ = cause
    return error


def _classify(
    info: ProviderInfo, status: int, code: str, detail: str, *, model: str, has_key: bool
) -> tuple[type[ModelError], str, bool]:
    """Error class, what to fix, and whether a retry could help, for one status."""
    if status == 401:
        hint = f"check {info.key_env}" if has_key else f"{info.key_env} is not set"
        return AuthenticationError, f"the API key was rejected: {hint}", False
    if status == 403:
        fix = f"access refused: check that the key in {info.key_env} may use model {model!r}"
        return AuthenticationError, fix, False
    if status == 429:
        if code == "insufficient_quota" or "quota" in detail.lower():
            return RateLimitError, f"quota exhausted for the key in {info.key_env}: check the account's billing", False
        return RateLimitError, "rate limited: wait and try again, or lower concurrency", True
    if status == 413 or (400 <= status < 500 and _mentions_context(code, detail)):
        return (
            ContextTooLongError,
            f"the prompt is too long for model {model!r}: start a new conversation, or lower its entry "
            "in MODEL_CONTEXT_WINDOWS so compaction starts earlier",
            False,
        )
    if status in (408, 409) or status >= 500:
        return ProviderUnavailableError, "the provider is unavailable: try again later", True
    if status == 404:
        return (
            BadRequestError,
            f"model {model!r} or the endpoint was not found: check the model name in MODEL_TIERS "
            f"and {info.base_url_env}",
            False,
        )
    if "image" in f"{code} {detail}".lower():
        return ImageRejectedError, "the provider refused an image in the conversation", False
    return BadRequestError, "the provider rejected the request", False


def from_transport_error(info: ProviderInfo, exc: httpx.TransportError | httpx.InvalidURL, *, timeout: float) -> ModelError:
    """The error for a request that got no response at all. Its message names
    the exception's type only, since the text can hold the address; ``exc``
    is kept as the cause, for the log."""
    error: ModelError
    if isinstance(exc, httpx.TimeoutException):
        error = ProviderUnavailableError(
            f"{info.name} did not answer within {timeout:g}s: try again later, or raise MODEL_TIMEOUT",
            provider=info.name,
            retryable=True,
        )
    elif isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL):
        error = BadRequestError(
            f"cannot send a request to {info.name}: check {info.base_url_env} ({type(exc).__name__})",
            provider=info.name,
        )
    else:
        error = ProviderUnavailableError(
            f"could not reach {info.name}: check {info.base_url_env} and the network ({type(exc).__name__})",
            provider=info.name,
            retryable=True,
        )
    error.__cause__ = exc
    return error


def malformed_response(info: ProviderInfo, problem: str) -> ModelError:
    """The error for a 2xx whose body is not the API's JSON (a proxy, a wrong base URL)."""
    return ModelError(
        f"{info.name} sent a response that is not its API's JSON ({problem}): "
        f"check that {info.base_url_env} points at the {info.name} API",
        provider=info.name,
    )


def parse_retry_after(headers: httpx.Headers, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _error_detail(response: httpx.Response) -> tuple[str, str]:
    """The provider's error code and message, from either API's error JSON."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        return "", _clip(text.strip())
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or error.get("type") or "")
        return code, _clip(str(error.get("message") or code))
    if isinstance(error, str):
        return "", _clip(error)
    return "", _clip(text.strip())


def _without_host(text: str, response: httpx.Response) -> str:
    """``text`` without the provider's host name or address: a proxy's error
    page can name it, and it may be a LAN address."""
    try:
        host = response.request.url.host
    except RuntimeError:  # a response built without its request
        return text
    return text.replace(host, "[provider host]") if host else text


def _mentions_context(code: str, detail: str) -> bool:
    haystack = f"{code} {detail}".lower()
    return any(marker in haystack for marker in _CONTEXT_MARKERS)


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."
