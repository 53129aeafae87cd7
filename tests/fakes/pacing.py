"""A Clock (``bot/coalesce.py``) whose waits return at once and move its time
on: the bot's paced edits run at full speed in tests, with the same pacing
decisions as on the real clock and no test ever sleeping."""

from __future__ import annotations

import asyncio


class InstantClock:
    def __init__(self) -> None:
        self.time = 0.0
        #: Every wait asked for, in seconds.
        self.waits: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)
