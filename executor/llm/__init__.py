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
)
from executor.llm.http import RetryPolicy
from executor.llm.model import Model, ModelResponse, ToolChoice
from executor.llm.openai import DEFAULT_BASE_URL as DEFAULT_OPENAI_BASE_URL
from executor.llm.openai import OpenAIChatModel
from executor.llm.tiers import (
    DEFAULT_CONTEXT_TOKENS,
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
    "SystemMessage",
    "ToolCall",
    "ToolChoice",
    "ToolResultMessage",
    "ToolSpec",
    "Usage",
    "UserMessage",
    "estimate_tokens",
    "parse_context_windows",
    "parse_tiers",
]
