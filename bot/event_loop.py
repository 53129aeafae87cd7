"""The event loop the bot's processes run on: uvloop's, where it installs.

With hundreds of runs in flight the bot's process is CPU-bound on one core,
and a good part of that CPU is the event loop itself: polling, scheduling
callbacks, reading and writing sockets. uvloop (libuv, by the authors of
asyncpg) does that work in C; in the loop benchmark it gave about 9 % more
model calls per second. discord.py, aiohttp, psycopg and the MCP client's
subprocesses all run on it. Where it does not install (Windows), the bot
runs on asyncio's own loop, unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop's loop when uvloop is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
