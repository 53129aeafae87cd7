"""Model tiers: an agent names ``fast`` or ``smart``; the operator decides what that is.

``MODEL_TIERS="fast=openai/gpt-4o-mini,smart=anthropic/claude-sonnet-4-5"``
maps tier aliases to ``provider/model`` specs. The model part may itself
contain ``/`` or ``:`` (``openai/llama3.1:8b`` on Ollama), so a spec splits
on its first slash. :class:`ModelRegistry` turns a tier or a spec into a
provider instance on the shared HTTP client and knows each model's context
window, which sets when the executor compacts a conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from executor.errors import ModelResolutionError
from executor.llm import anthropic, openai
from executor.llm.errors import ProviderInfo
from executor.llm.http import RetryPolicy
from executor.llm.model import Model

#: The context window of a model nobody knows, and of a tier that does not
#: resolve (a run of it fails at model resolution with the resolver's message).
DEFAULT_CONTEXT_TOKENS = 128_000

#: Context windows of well-known models, by name or dated-name prefix.
#: Local models (Ollama) are often served with far less than they support:
#: set theirs in MODEL_CONTEXT_WINDOWS.
KNOWN_CONTEXT_WINDOWS: Mapping[str, int] = {
    "gpt-3.5-turbo": 16_385,
    "gpt-4-turbo": 128_000,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-5": 400_000,
    "gpt-5-mini": 400_000,
    "gpt-5-nano": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o4-mini": 200_000,
    "claude-3-5-haiku": 200_000,
    "claude-3-5-sonnet": 200_000,
    "claude-3-7-sonnet": 200_000,
    "claude-haiku-4-5": 200_000,
    "claude-sonnet-4": 200_000,
    "claude-sonnet-4-5": 200_000,
    "claude-opus-4": 200_000,
    "claude-opus-4-1": 200_000,
}

_TIER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class _Provider:
    info: ProviderInfo
    default_base_url: str
    factory: Callable[..., Model]
    #: The factory's keyword for the most output tokens a call may produce.
    max_output_arg: str


_PROVIDERS: Mapping[str, _Provider] = {
    "openai": _Provider(openai.OPENAI, openai.DEFAULT_BASE_URL, openai.OpenAIChatModel, "max_completion_tokens"),
    "anthropic": _Provider(anthropic.ANTHROPIC, anthropic.DEFAULT_BASE_URL, anthropic.AnthropicModel, "max_tokens"),
}

#: MODEL_MAX_OUTPUT_TOKENS' default: the most tokens one model call may write,
#: sent with every call (OpenAI ``max_completion_tokens``, Anthropic
#: ``max_tokens``). It bounds what a budget holds for a call before making it
#: (executor/spending.py): 8,192 is what Anthropic calls already sent, room for
#: a long answer plus a reasoning model's thinking (which counts as output),
#: and at gpt-4o's $10 per million output tokens it holds about $0.08 a call.
DEFAULT_MAX_OUTPUT_TOKENS = 8192


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """``provider/model``, split on the first slash."""

    provider: str
    model: str

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        provider, slash, model = text.strip().partition("/")
        if not slash or not provider or not model:
            raise ValueError(f"{text!r} is not a provider/model spec (like openai/gpt-4o-mini)")
        if provider not in _PROVIDERS:
            raise ValueError(f"unknown provider {provider!r} in {text!r}: use one of {', '.join(sorted(_PROVIDERS))}")
        return cls(provider, model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class ProviderAccess:
    """How to reach one provider. An empty ``base_url`` means the official API."""

    api_key: str = ""
    base_url: str = ""


def parse_tiers(text: str) -> dict[str, ModelSpec]:
    """``fast=openai/gpt-4o-mini,smart=...`` -> {tier: spec}; errors name MODEL_TIERS."""
    tiers: dict[str, ModelSpec] = {}
    for name, value in _pairs(text, "MODEL_TIERS", "fast=openai/gpt-4o-mini"):
        if not _TIER_NAME.match(name):
            raise ValueError(f"MODEL_TIERS: tier name {name!r} may only use letters, digits, '.', '_' and '-'")
        if name in tiers:
            raise ValueError(f"MODEL_TIERS: tier {name!r} is defined twice")
        try:
            tiers[name] = ModelSpec.parse(value)
        except ValueError as exc:
            raise ValueError(f"MODEL_TIERS: tier {name!r}: {exc}") from None
    return tiers


def parse_context_windows(text: str) -> dict[str, int]:
    """``gpt-4o-mini=128000,...`` -> {model, spec or tier: tokens}; errors name MODEL_CONTEXT_WINDOWS."""
    windows: dict[str, int] = {}
    for name, value in _pairs(text, "MODEL_CONTEXT_WINDOWS", "gpt-4o-mini=128000"):
        try:
            tokens = int(value.replace("_", ""))
        except ValueError:
            tokens = 0
        if tokens <= 0:
            raise ValueError(f"MODEL_CONTEXT_WINDOWS: {name!r} needs a positive token count, got {value!r}")
        windows[name] = tokens
    return windows


def known_context_window(model: str) -> int:
    """The table entry for ``model`` or its longest prefix (dated names), else the default."""
    name = model.lower()
    matches = [key for key in KNOWN_CONTEXT_WINDOWS if name == key or name.startswith(key + "-")]
    return KNOWN_CONTEXT_WINDOWS[max(matches, key=len)] if matches else DEFAULT_CONTEXT_TOKENS


class ModelRegistry:
    """Resolves tiers and specs to models; usable directly as the executor's ModelResolver.

    Models are built once per spec and share ``client``. A provider needs its
    key only when it points at the official API, so local servers (Ollama)
    work without one.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        tiers: Mapping[str, ModelSpec],
        providers: Mapping[str, ProviderAccess],
        *,
        context_windows: Mapping[str, int] | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS,
    ) -> None:
        self.client = client
        self.max_output_tokens = max_output_tokens
        self.tiers = dict(tiers)
        self.providers = dict(providers)
        self.context_windows = dict(context_windows or {})
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._models: dict[ModelSpec, Model] = {}

    def __call__(self, tier_or_spec: str) -> Model:
        return self.resolve(tier_or_spec)

    def spec(self, tier_or_spec: str) -> ModelSpec:
        """The spec a tier stands for, or the parsed spec itself."""
        name = tier_or_spec.strip()
        if name in self.tiers:
            return self.tiers[name]
        if "/" in name:
            try:
                return ModelSpec.parse(name)
            except ValueError as exc:
                raise ModelResolutionError(str(exc)) from None
        known = ", ".join(sorted(self.tiers)) or "none"
        raise ModelResolutionError(
            f"unknown model tier {name!r}: add it to MODEL_TIERS (defined tiers: {known}), "
            "or name a provider/model like openai/gpt-4o-mini"
        )

    def resolve(self, tier_or_spec: str) -> Model:
        spec = self.spec(tier_or_spec)
        model = self._models.get(spec)
        if model is None:
            model = self._models[spec] = self._build(tier_or_spec, spec)
        return model

    def context_tokens(self, tier_or_spec: str) -> int:
        """Context window for the tier's model: MODEL_CONTEXT_WINDOWS (by tier,
        spec or model name), then the known table, then DEFAULT_CONTEXT_TOKENS.
        Never raises: usable directly as the executor's ``context_tokens``."""
        try:
            spec = self.spec(tier_or_spec)
        except ModelResolutionError:
            return DEFAULT_CONTEXT_TOKENS
        for key in (tier_or_spec.strip(), str(spec), spec.model):
            if key in self.context_windows:
                return self.context_windows[key]
        return known_context_window(spec.model)

    def _build(self, asked: str, spec: ModelSpec) -> Model:
        provider = _PROVIDERS[spec.provider]
        access = self.providers.get(spec.provider, ProviderAccess())
        base_url = access.base_url or provider.default_base_url
        if not access.api_key and base_url.rstrip("/") == provider.default_base_url:
            info = provider.info
            raise ModelResolutionError(
                f"{asked!r} needs {spec} but {info.key_env} is not set: set {info.key_env} "
                f"(or point {info.base_url_env} at a server that needs no key)"
            )
        bound = {provider.max_output_arg: self.max_output_tokens}
        return provider.factory(
            self.client, spec.model, access.api_key, base_url, timeout=self.timeout, retry=self.retry, **bound
        )


def _pairs(text: str, variable: str, example: str) -> list[tuple[str, str]]:
    """``a=b,c=d`` as stripped pairs; blank entries are skipped."""
    pairs = []
    for item in text.split(","):
        if not item.strip():
            continue
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise ValueError(f"{variable}: {item.strip()!r} is not name=value (expected e.g. {example})")
        pairs.append((name.strip(), value.strip()))
    return pairs
