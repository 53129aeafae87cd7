"""Settings: everything the bot reads from the environment and ``.env``.

Every setting is documented in ``.env.example``. Secrets are ``SecretStr``
so they print as ``**********`` in logs and reprs; read them with
:func:`secret`. Comma-separated lists arrive as plain strings (pydantic-settings
would otherwise try to parse them as JSON) and are parsed here, with errors
that name the variable. Empty values count as unset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.shards import Shards, parse_shard_ids
from bot.store import DEFAULT_DATABASE_URL, MAX_LIMIT, Limit, Limits, Period, Setting
from bot.store.leases import LEASE_SECONDS
from bot.store.owners import check_executor_id
from executor.llm import (
    DEFAULT_ANTHROPIC_BASE_URL,
    DEFAULT_MAX_OUTPUT_TOKENS,
    DEFAULT_OPENAI_BASE_URL,
    ModelRegistry,
    ModelSpec,
    ProviderAccess,
    RetryPolicy,
    parse_context_windows,
    parse_tiers,
)
from executor import Tariffs
from executor.llm.pricing import MICROS_PER_USD, Price, PriceTable, parse_model_prices, parse_price
from executor.tools.builtin import (
    DEFAULT_BRAVE_BASE_URL,
    DEFAULT_TAVILY_BASE_URL,
    BraveSearch,
    SearchBackend,
    SearXNG,
    Tavily,
)

DEFAULT_MODEL_TIERS = "fast=openai/gpt-4o-mini,smart=openai/gpt-4o"
#: The settings that choose web_search's backend, the first one set winning.
SEARCH_SETTINGS = ("SEARXNG_URL", "BRAVE_API_KEY", "TAVILY_API_KEY")

#: Settings written as text in their own syntax, and their parsers (whose errors name the variable).
_PARSERS: dict[str, Callable[[str], Any]] = {
    "model_tiers": parse_tiers,
    "model_context_windows": parse_context_windows,
    "model_prices": parse_model_prices,
    "model_price_default": parse_price,
}


class ConfigError(Exception):
    """The environment or ``.env`` holds an invalid setting; the message names it."""


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """The bot's configuration. ``DISCORD_TOKEN`` is optional here because
    tooling (migrations, the local chat) runs without it; the bot checks it."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        protected_namespaces=(),
    )

    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_guild_ids: Annotated[tuple[int, ...], NoDecode] = ()
    database_url: str = DEFAULT_DATABASE_URL
    #: This process's identity as the owner of its runs (see bot/store/owners.py);
    #: unset, the store makes one up from host, pid and a random part.
    executor_id: str = ""
    #: Runs recorded as their own checkpoint, so that a run whose process dies
    #: resumes when the bot starts again (see bot/store/records.py).
    runs_durable: bool = True
    #: PostgreSQL: how long this process's lease lasts unrenewed, so how soon
    #: after it dies another process (or it, restarted) takes over its runs.
    lease_seconds: float = Field(LEASE_SECONDS, gt=1)
    #: Days runs and idle conversations are kept (bot/store/retention.py); 0 keeps them forever.
    audit_retention_days: int = Field(90, ge=0)
    #: Discord sharding (see bot/shards.py): the total number of shards, and
    #: those this process runs. Unset: what GET /gateway/bot recommends, all here.
    shard_count: int | None = Field(None, ge=1)
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = None
    agents_dir: Path = Path("agents")
    skills_dir: Path = Path("skills")
    mcp_dir: Path = Path("mcp")
    artifacts_dir: Path = Path("artifacts")
    openai_api_key: SecretStr | None = None
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str = DEFAULT_ANTHROPIC_BASE_URL
    model_tiers: Annotated[dict[str, ModelSpec], NoDecode] = Field(
        default_factory=lambda: parse_tiers(DEFAULT_MODEL_TIERS)
    )
    model_context_windows: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    model_prices: Annotated[dict[str, Price], NoDecode] = Field(default_factory=dict)
    model_price_default: Annotated[Price | None, NoDecode] = None
    model_max_output_tokens: int = Field(DEFAULT_MAX_OUTPUT_TOKENS, ge=1)
    model_timeout: float = Field(120.0, gt=0)
    #: The share of a limit at which a member is warned (once per period) and /budget show lists them.
    budget_warn_percent: int = Field(80, ge=1, le=100)
    model_max_retries: int = Field(3, ge=0)
    log_level: LogLevel = "INFO"
    default_agent: str = "assistant"
    system_header: str = ""
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    otel_exporter_otlp_endpoint: str | None = None
    searxng_url: str | None = None
    brave_api_key: SecretStr | None = None
    brave_base_url: str = DEFAULT_BRAVE_BASE_URL
    tavily_api_key: SecretStr | None = None
    tavily_base_url: str = DEFAULT_TAVILY_BASE_URL
    #: DMs and user-installed /ask (see README, "DMs and user installs").
    dm_enabled: bool = True
    #: Each member's personal budget for DMs, the operator's alone: ``none`` is no limit.
    dm_budget_runs: int | None = Field(20, ge=0, le=MAX_LIMIT)
    dm_budget_tokens: int | None = Field(200_000, ge=0, le=MAX_LIMIT)
    dm_budget_runtime: float | None = Field(600.0, ge=0, le=MAX_LIMIT)
    dm_budget_concurrent: int | None = Field(1, ge=0, le=MAX_LIMIT)
    #: US dollars; unset by default: with a USD limit, models without a known price are not used.
    dm_budget_usd: float | None = Field(None, ge=0, le=MAX_LIMIT / MICROS_PER_USD)
    dm_budget_period: Literal["day", "week", "month"] = "day"

    @field_validator("discord_guild_ids", mode="before")
    @classmethod
    def _guild_ids(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        ids = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            if not item.isdigit():
                raise ValueError(f"DISCORD_GUILD_IDS: {item!r} is not a server id (comma-separated numbers)")
            ids.append(int(item))
        return tuple(ids)

    @field_validator(
        "dm_budget_runs", "dm_budget_tokens", "dm_budget_runtime", "dm_budget_concurrent", "dm_budget_usd", mode="before"
    )
    @classmethod
    def _no_limit(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "none" else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _shard_ids(cls, value: Any) -> Any:
        return parse_shard_ids(value) if isinstance(value, str) else value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids_exist(cls, value: tuple[int, ...] | None, info: ValidationInfo) -> tuple[int, ...] | None:
        if "shard_count" in info.data:  # else SHARD_COUNT's own error says what is wrong
            Shards(info.data["shard_count"], value)
        return value

    @field_validator("searxng_url", "brave_base_url", "tavily_base_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            url = httpx.URL(value.strip())
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host or url.userinfo:
            variable = str(info.field_name).upper()
            raise ValueError(f"{variable}: give an http(s) URL with a host and no user name or password")
        return str(url)

    @field_validator("executor_id")
    @classmethod
    def _executor_id(cls, value: str) -> str:
        return check_executor_id(value.strip()) if value.strip() else ""

    @field_validator(*_PARSERS, mode="before")
    @classmethod
    def _parsed(cls, value: Any, info: ValidationInfo) -> Any:
        return _PARSERS[str(info.field_name)](value) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    def shards(self) -> Shards:
        """The shards this process runs (validated with the settings)."""
        return Shards(self.shard_count, self.shard_ids)

    def secrets(self) -> list[str]:
        """Every secret value set, for redaction (see bot/logs.py)."""
        keys = (self.openai_api_key, self.anthropic_api_key, self.brave_api_key, self.tavily_api_key)
        return [secret(v) for v in (self.discord_token, *keys) if v is not None]

    def search_backend(self) -> SearchBackend | None:
        """web_search's backend: SEARXNG_URL (the operator's own server, its
        host trusted even on loopback or the LAN), else BRAVE_API_KEY, else
        TAVILY_API_KEY; None when none is set (no web_search)."""
        if self.searxng_url:
            return SearXNG(self.searxng_url)
        if self.brave_api_key is not None:
            return BraveSearch(secret(self.brave_api_key), base_url=self.brave_base_url)
        if self.tavily_api_key is not None:
            return Tavily(secret(self.tavily_api_key), base_url=self.tavily_base_url)
        return None

    def provider_access(self) -> dict[str, ProviderAccess]:
        return {
            "openai": ProviderAccess(secret(self.openai_api_key), self.openai_base_url),
            "anthropic": ProviderAccess(secret(self.anthropic_api_key), self.anthropic_base_url),
        }

    def model_registry(self, client: httpx.AsyncClient) -> ModelRegistry:
        """The executor's model resolver, on the caller's shared HTTP client."""
        return ModelRegistry(
            client,
            self.model_tiers,
            self.provider_access(),
            context_windows=self.model_context_windows,
            timeout=self.model_timeout,
            retry=RetryPolicy(max_retries=self.model_max_retries),
            max_output_tokens=self.model_max_output_tokens,
        )

    def personal_limits(self) -> Limits:
        """The limits of every member's personal scope (DMs), from DM_BUDGET_*."""
        period = Period(self.dm_budget_period)
        amounts = {
            Limit.RUNS: self.dm_budget_runs,
            Limit.TOKENS: self.dm_budget_tokens,
            Limit.RUNTIME: self.dm_budget_runtime,
            Limit.CONCURRENT: self.dm_budget_concurrent,
            Limit.USD: None if self.dm_budget_usd is None else round(self.dm_budget_usd * MICROS_PER_USD),
        }
        return Limits({k: Setting(v, period if k.per_period else None) for k, v in amounts.items()})

    def price_table(self) -> PriceTable:
        """Model prices: MODEL_PRICES, then genai-prices for the configured API bases, then MODEL_PRICE_DEFAULT."""
        return PriceTable(
            self.model_prices,
            default=self.model_price_default,
            base_urls={name: access.base_url for name, access in self.provider_access().items()},
        )

    def tariffs(self, models: ModelRegistry) -> Tariffs:
        """What each tier's calls cost: its model's price (``price_table``) and
        the most output tokens ``models`` lets a call write."""
        table = self.price_table()
        return lambda tier: table.tariff(models.spec(tier), models.max_output_tokens)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``.env``, or a ConfigError with one
    ``VARIABLE: problem`` line per bad setting (never the values: they may be secrets)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            variable = ".".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")
            lines.append(message if message.startswith(f"{variable}:") else f"{variable}: {message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None


def secret(value: SecretStr | None) -> str:
    """The secret's text, or "" when unset."""
    return value.get_secret_value() if value is not None else ""
