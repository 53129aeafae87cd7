"""Secrets never reach the logs, whatever a library writes."""

from __future__ import annotations

import logging

import pytest

from bot.config import load_settings
from bot.logs import RedactSecrets

TOKEN = "MTIzNDU2Nzg5.discord-bot-token-value"


def test_secrets_in_messages_arguments_and_tracebacks_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.redact")
    caplog.handler.addFilter(RedactSecrets([TOKEN, "short"]))
    with caplog.at_level(logging.DEBUG, "tests.redact"):
        log.debug("PATCH /webhooks/1/%s/messages", TOKEN)
        try:
            raise RuntimeError(f"auth failed for {TOKEN}")
        except RuntimeError:
            log.exception("request failed")
    text = caplog.text
    assert TOKEN not in text
    assert "/webhooks/1/********/messages" in text and "auth failed for ********" in text
    assert "short" not in [r.getMessage() for r in caplog.records]  # too short to be a secret: not masked


def test_settings_list_every_secret_set() -> None:
    settings = load_settings(discord_token=TOKEN, openai_api_key="sk-abcdefgh12345678", anthropic_api_key=None)
    assert settings.secrets() == [TOKEN, "sk-abcdefgh12345678"]
