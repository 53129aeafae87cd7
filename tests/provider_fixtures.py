"""Fixtures both provider test files use (imported by name into each)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bot.http import http_client
from tests.fakes.model_servers import RecordedSleep


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
