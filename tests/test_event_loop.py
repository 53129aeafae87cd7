"""The event loop the bot's processes run on (bot/event_loop.py)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot import event_loop


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_the_bot_runs_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop", reason="uvloop does not install on this platform")
    assert event_loop.run(_loop_module()).startswith("uvloop")


def test_without_uvloop_the_bot_runs_on_asyncios_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert event_loop.run(_loop_module()).startswith("asyncio")
