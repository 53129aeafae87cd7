"""Start-up refusals: each says what to set, in one line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bot.discord_host.app import run_bot
from bot.config import load_settings
from bot.discord_host.api import DiscordAPIError, point_discord_at
from bot.http import http_client
from tests.fakes.bot_env import bot_environment
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


#: In a DATABASE_URL; it must never be printed.
PASSWORD = "s3cret-pw"


def bad_database_urls(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Each unusable DATABASE_URL, and what its error line must say."""
    (tmp_path / "a-file").write_text("")
    (tmp_path / "notes.db").write_text("not a database, but some text that is long enough to have a header" * 2)
    return {
        "a folder that cannot be created": (
            f"sqlite:///{tmp_path / 'a-file' / 'sub' / 'bot.db'}",
            f"cannot create the folder {tmp_path / 'a-file' / 'sub'}: {tmp_path / 'a-file'} is not a folder",
        ),
        "/dev/null": ("sqlite:////dev/null", "/dev/null is not a regular file"),
        "a directory": (f"sqlite:///{tmp_path}", f"{tmp_path} is a folder; name a database file in it"),
        "a file that is not a database": (f"sqlite:///{tmp_path / 'notes.db'}", "is not a SQLite database"),
        "neither SQLite nor PostgreSQL": ("mysql://bot@db/executus", "or a PostgreSQL URL such as"),
        "a PostgreSQL server that does not answer": (  # nothing listens on port 1
            f"postgresql://bot:{PASSWORD}@127.0.0.1:1/executus",
            "DATABASE_URL postgresql://bot:***@127.0.0.1:1/executus: cannot use PostgreSQL: ",
        ),
    }


async def error_output(tmp_path: Path, command: list[str], database_url: str) -> tuple[int | None, str, bytes]:
    env = bot_environment(
        tmp_path / "unused.db",
        DATABASE_URL=database_url,
        DISCORD_TOKEN="not-checked-before-the-database",
        DISCORD_API_BASE="http://127.0.0.1:9/api/v10",  # never reached
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *command, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, err.decode(), out


@pytest.mark.parametrize("command", [[], ["chat", "hello"], ["migrate"]], ids=["run", "chat", "migrate"])
async def test_an_unusable_database_url_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    cases = bad_database_urls(tmp_path)
    # One process per case, all at once (each spends most of its time importing).
    results = await asyncio.gather(*(error_output(tmp_path, command, url) for url, _ in cases.values()))
    for (case, (_, problem)), (code, err, out) in zip(cases.items(), results, strict=True):
        lines = err.splitlines()
        assert code == 2, (case, err)
        assert len(lines) == 1 and "Traceback" not in err, (case, err)
        assert lines[0].startswith("error: DATABASE_URL ") and problem in lines[0], (case, lines[0])
        assert out == b"" and PASSWORD not in err, case
