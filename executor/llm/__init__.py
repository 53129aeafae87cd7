"""Model-facing types, the Model protocol, providers and the tier resolver."""

from __future__ import annotations

from executor.llm.model import Model, ModelResponse, ToolChoice
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

__all__ = [
    "AssistantMessage",
    "Image",
    "Message",
    "Model",
    "ModelResponse",
    "SystemMessage",
    "ToolCall",
    "ToolChoice",
    "ToolResultMessage",
    "ToolSpec",
    "Usage",
    "UserMessage",
]
