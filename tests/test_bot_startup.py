"""Start-up refusals: each says what to set."""

from __future__ import annotations

import pytest

from bot.app import run_bot
from bot.config import load_settings
from bot.discord_api import DiscordAPIError, point_discord_at
from bot.http import http_client
from tests.fakes.model_servers import FakeOpenAIServer


async def test_without_a_token_the_bot_says_how_to_get_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_bot(load_settings(discord_token=None)) == 2
    err = capsys.readouterr().err
    assert "DISCORD_TOKEN is not set" in err and "Reset Token" in err


async def test_an_unreachable_api_base_names_the_setting() -> None:
    async with FakeOpenAIServer() as gone:
        closed = f"{gone.url}/api/v10"
    async with http_client() as http:
        with pytest.raises(DiscordAPIError, match="check DISCORD_API_BASE"):
            await point_discord_at(closed, http)


async def test_an_api_base_that_is_not_discord_names_the_setting() -> None:
    async with FakeOpenAIServer() as not_discord, http_client() as http:
        with pytest.raises(DiscordAPIError, match="check DISCORD_API_BASE"):
            await point_discord_at(not_discord.url, http)  # answers 404 to GET /gateway
