"""Coalescing a stream of changes into paced updates.

Runs change state far faster than Discord lets a message be edited (about
five edits per five seconds per channel): a streamed answer grows by a few
characters at a time, tools start and end in bursts. A Coalescer turns every
change into at most one update in flight and one per ``interval`` seconds,
each showing the newest state, and never makes the changer wait.

The clock is a port, so tests drive the pacing without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Monotonic seconds, and a way to wait some of them."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Coalescer:
    """Calls ``update`` after changes, paced: never two at once, never two
    within ``interval`` seconds, and once more after the last change.

    ``update`` reads the state it shows when it runs, so changes made while
    one is waiting or in flight are all shown by the next. ``last`` is when
    the thing was last updated (by default never: the first update goes at
    once; pass ``clock.now()`` for something just written). An update that
    raises is logged and does not stop later ones.
    """

    def __init__(
        self, update: Callable[[], Awaitable[None]], interval: float, clock: Clock, *, last: float | None = None
    ) -> None:
        self._update = update
        self._interval = interval
        self._clock = clock
        self._last = last
        self._dirty = False
        self._task: asyncio.Task[None] | None = None
        self._updating = False

    def changed(self) -> None:
        """Something changed: schedule an update. Returns at once."""
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def hold(self) -> None:
        """Count now as an update: the next one waits a whole interval."""
        self._last = self._clock.now()

    async def _run(self) -> None:
        while self._dirty:
            wait = self._last + self._interval - self._clock.now() if self._last is not None else 0.0
            if wait > 0:
                await self._clock.sleep(wait)
                continue  # stop() may have dropped the change meanwhile
            self._dirty = False
            self._last = self._clock.now()
            self._updating = True
            try:
                await self._update()
            except Exception:
                log.warning("a paced update failed", exc_info=True)
            finally:
                self._updating = False

    async def stop(self) -> None:
        """Drop pending changes and let an update in flight finish (one
        waiting its turn is cancelled), so whoever writes after this is not
        overwritten, and nothing is left half-sent."""
        self._dirty = False
        task = self._task
        if task is None or task.done():
            return
        if not self._updating:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
