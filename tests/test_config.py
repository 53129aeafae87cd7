"""bot.config: environment and .env parsing, secrets, errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.config import ConfigError, Settings, load_settings, secret
from bot.store import Limit, Period
from executor.errors import ModelResolutionError
from executor.llm.openai import OpenAIChatModel
from executor.llm.tiers import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = load_settings(_env_file=None)
    assert s.discord_token is None
    assert s.discord_api_base == "https://discord.com/api/v10"
    assert s.discord_guild_ids == ()
    assert s.database_url == "sqlite:///data/executus.db"
    assert (s.agents_dir, s.skills_dir, s.artifacts_dir) == (Path("agents"), Path("skills"), Path("artifacts"))
    assert s.openai_base_url == "https://api.openai.com/v1"
    assert s.anthropic_base_url == "https://api.anthropic.com"
    assert s.model_tiers == {"fast": ModelSpec("openai", "gpt-4o-mini"), "smart": ModelSpec("openai", "gpt-4o")}
    assert s.model_context_windows == {}
    assert (s.model_timeout, s.model_max_retries, s.log_level) == (120.0, 3, "INFO")


def test_comma_lists_parse_from_plain_env_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_GUILD_IDS", "123456789012345678, 42,")
    monkeypatch.setenv("MODEL_TIERS", "fast=openai/llama3.1:8b,smart=anthropic/claude-sonnet-4-5")
    monkeypatch.setenv("MODEL_CONTEXT_WINDOWS", "llama3.1:8b=8192,smart=150000")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("MODEL_TIMEOUT", "30.5")
    s = load_settings(_env_file=None)
    assert s.discord_guild_ids == (123456789012345678, 42)
    assert s.model_tiers["fast"] == ModelSpec("openai", "llama3.1:8b")
    assert s.model_tiers["smart"] == ModelSpec("anthropic", "claude-sonnet-4-5")
    assert s.model_context_windows == {"llama3.1:8b": 8192, "smart": 150000}
    assert s.log_level == "DEBUG" and s.model_timeout == 30.5


def test_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DISCORD_TOKEN=file-token\nAGENTS_DIR=/srv/agents\nMODEL_MAX_RETRIES=5\nOPENAI_API_KEY=\n")
    monkeypatch.setenv("MODEL_MAX_RETRIES", "1")
    s = load_settings(_env_file=env_file)
    assert secret(s.discord_token) == "file-token"
    assert s.agents_dir == Path("/srv/agents")
    assert s.model_max_retries == 1
    assert s.openai_api_key is None  # empty counts as unset


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret-value")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret-value")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value")
    s = load_settings(_env_file=None)
    for shown in (repr(s), str(s), s.model_dump_json()):
        assert "secret-value" not in shown
    assert secret(s.openai_api_key) == "sk-openai-secret-value"
    assert secret(None) == ""


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("MODEL_TIERS", "fast", "MODEL_TIERS: 'fast' is not name=value"),
        ("MODEL_TIERS", "fast=bedrock/x", "MODEL_TIERS: tier 'fast': unknown provider 'bedrock'"),
        ("MODEL_CONTEXT_WINDOWS", "gpt-4o=big", "MODEL_CONTEXT_WINDOWS: 'gpt-4o' needs a positive token count"),
        ("DISCORD_GUILD_IDS", "123,general", "DISCORD_GUILD_IDS: 'general' is not a server id"),
        ("MODEL_TIMEOUT", "0", "MODEL_TIMEOUT: Input should be greater than 0"),
        ("MODEL_MAX_RETRIES", "many", "MODEL_MAX_RETRIES: Input should be a valid integer"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: Input should be 'DEBUG'"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert fragment in str(info.value)


def test_config_errors_do_not_echo_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_TIMEOUT", "sk-pasted-in-the-wrong-place")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "sk-pasted" not in str(info.value)


async def test_model_registry_uses_keys_urls_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-o")
    monkeypatch.setenv("MODEL_TIERS", "fast=openai/gpt-4o-mini,smart=anthropic/claude-sonnet-4-5")
    monkeypatch.setenv("MODEL_CONTEXT_WINDOWS", "gpt-4o-mini=64000")
    monkeypatch.setenv("MODEL_TIMEOUT", "9")
    monkeypatch.setenv("MODEL_MAX_RETRIES", "0")
    s = load_settings(_env_file=None)
    async with httpx.AsyncClient() as client:
        registry = s.model_registry(client)
        fast = registry.resolve("fast")
        assert isinstance(fast, OpenAIChatModel)
        assert registry.context_tokens("fast") == 64000
        assert (registry.timeout, registry.retry.max_retries) == (9.0, 0)
        with pytest.raises(ModelResolutionError, match="set ANTHROPIC_API_KEY"):
            registry.resolve("smart")


def test_env_example_documents_every_setting_and_loads() -> None:
    example = ROOT / ".env.example"
    lines = example.read_text(encoding="utf-8").splitlines()
    assigned = {line.split("=", 1)[0]: i for i, line in enumerate(lines) if line and not line.startswith("#")}
    assert sorted(assigned) == sorted(VARIABLES)
    for name, index in assigned.items():
        assert lines[index - 1].startswith("# "), f"{name} has no comment above it"
    assert load_settings(_env_file=example) == load_settings(_env_file=None)


def test_executor_id_is_checked_and_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(_env_file=None).executor_id == ""  # the store makes one up per process
    monkeypatch.setenv("EXECUTOR_ID", " bot-eu.1 ")
    assert load_settings(_env_file=None).executor_id == "bot-eu.1"
    monkeypatch.setenv("EXECUTOR_ID", "bot/../1")
    with pytest.raises(ConfigError, match=r"EXECUTOR_ID: 'bot/\.\./1' must be 1-64 letters"):
        load_settings(_env_file=None)


def test_the_personal_budget_comes_from_dm_budget_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DM_BUDGET_RUNS", "none")
    monkeypatch.setenv("DM_BUDGET_USD", "0.50")
    monkeypatch.setenv("DM_BUDGET_PERIOD", "week")
    limits = load_settings(_env_file=None).personal_limits()
    assert limits.amount(Limit.RUNS) is None and limits.amount(Limit.USD) == 500_000
    assert limits.amount(Limit.TOKENS) == 200_000 and limits.period(Limit.TOKENS) is Period.WEEK
    assert limits.amount(Limit.CONCURRENT) == 1
    monkeypatch.setenv("DM_BUDGET_TOKENS", "-1")
    with pytest.raises(ConfigError, match="DM_BUDGET_TOKENS"):
        load_settings(_env_file=None)
