"""Models: public face of the model side of the runtime.

- ``types``: provider-neutral messages, tool calls, images and token Usage;
- ``model``: the Model protocol the agent loop talks to;
- ``openai``, ``anthropic``: providers speaking their real wire formats over
  one shared ``httpx`` client, through ``http`` (retries, timeouts) and
  ``errors`` (typed, redacted provider failures);
- ``tiers``: ``fast``/``smart`` aliases to ``provider/model`` specs, the
  ModelRegistry that resolves them, and each model's context window;
- ``scripted``: a ScriptedModel for tests;
- ``pricing/``: prices and costs in USD (a face of its own: it loads the
  genai-prices data, which only hosts that count money need).

Streamed answers
----------------
``Model.complete`` takes an optional ``on_delta`` callback::

    async def complete(messages, tools=(), *, tool_choice="auto",
                       on_delta: OnDelta | None = None) -> ModelResponse

    OnDelta = Callable[[StreamDelta], None]
    StreamDelta = TextDelta | ToolCallDelta
    TextDelta(text: str)                  # answer text to append
    ToolCallDelta(index: int, name: str)  # the model is choosing this tool (call ``index`` of the turn)

Without ``on_delta`` the call is the plain request/response one, unchanged
and no slower. With it, the providers stream (OpenAI: ``stream`` with
``stream_options.include_usage``; Anthropic: its event stream) and:

* the returned ``ModelResponse`` is the one the unstreamed call returns:
  same text, tool calls, reasoning and signature, usage and stop reason
  (each provider folds its stream back into its unstreamed JSON and parses
  that), so the loop needs no other change;
* deltas come in order, synchronously, from the task awaiting ``complete``:
  the callback must return quickly and do no I/O (buffer the text and let
  another task edit the message). The ``TextDelta`` texts joined are the
  response's ``content``; reasoning is not delivered; tool arguments arrive
  only with the response;
* retries happen only before the first delta: a retried attempt never
  delivered anything, so nothing has to be taken back;
* if the stream breaks off after a delta (connection lost, the provider's
  error event, no final event, nothing received for the provider timeout),
  ``complete`` raises ``errors.StreamInterruptedError`` (a
  ``ProviderUnavailableError``, not retryable): what was delivered is not
  an answer, and must not be shown as final. Cancellation leaves as
  ``CancelledError`` the same way;
* an exception raised by the callback ends the call and propagates as is;
* a model may deliver no delta at all (a compatible server that ignores
  ``stream``); the response still comes, so show it when it does.

``ScriptedModel`` streams its replies in ``chunk_chars`` pieces, and its
``cut_off(partial)`` item plays a stream that breaks off, for host tests.
"""

from __future__ import annotations

from executor.llm.anthropic import DEFAULT_BASE_URL as DEFAULT_ANTHROPIC_BASE_URL
from executor.llm.anthropic import AnthropicModel
from executor.llm.errors import (
    AuthenticationError,
    BadRequestError,
    ContextTooLongError,
    ImageRejectedError,
    ModelError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from executor.llm.http import RetryPolicy
from executor.llm.model import Model, ModelResponse, OnDelta, StreamDelta, TextDelta, ToolCallDelta, ToolChoice
from executor.llm.openai import DEFAULT_BASE_URL as DEFAULT_OPENAI_BASE_URL
from executor.llm.openai import OpenAIChatModel
from executor.llm.tiers import (
    DEFAULT_CONTEXT_TOKENS,
    DEFAULT_MAX_OUTPUT_TOKENS,
    ModelRegistry,
    ModelSpec,
    ProviderAccess,
    parse_context_windows,
    parse_tiers,
)
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
    estimate_tokens,
)

__all__ = [
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_CONTEXT_TOKENS",
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DEFAULT_OPENAI_BASE_URL",
    "AnthropicModel",
    "AssistantMessage",
    "AuthenticationError",
    "BadRequestError",
    "ContextTooLongError",
    "Image",
    "ImageRejectedError",
    "Message",
    "Model",
    "ModelError",
    "ModelRegistry",
    "ModelResponse",
    "ModelSpec",
    "OpenAIChatModel",
    "ProviderAccess",
    "ProviderUnavailableError",
    "RateLimitError",
    "RetryPolicy",
    "StreamInterruptedError",
    "OnDelta",
    "StreamDelta",
    "SystemMessage",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolResultMessage",
    "ToolSpec",
    "Usage",
    "UserMessage",
    "estimate_tokens",
    "parse_context_windows",
    "parse_tiers",
]
