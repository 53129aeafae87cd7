"""Fixtures both provider test files use (imported by name into each)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from bot.http import http_client
from tests.fakes.model_servers import RecordedSleep

#: OpenAI's published chat request schema (tests/specs/openai_extract_schema.py).
OPENAI_REQUEST_SCHEMA = Path(__file__).parent / "specs" / "openai_chat_request.schema.json"


@pytest.fixture(params=["httpcore", "aiohttp"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """Every provider test runs on httpx's own transport and on the bot's
    (httpx over aiohttp, ``bot.http``): errors, timeouts and retries must
    read the same on both."""
    async with httpx.AsyncClient() if request.param == "httpcore" else http_client() as c:
        yield c


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    """Checks a request body against OpenAI's chat request schema."""
    schema = json.loads(OPENAI_REQUEST_SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
