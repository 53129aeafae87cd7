"""The Coalescer: paced updates that always show the newest state."""

from __future__ import annotations

import asyncio

from bot.coalesce import Coalescer
from tests.fakes.pacing import InstantClock


class Shown:
    """A thing being updated: what it showed, and when (on the clock)."""

    def __init__(self, clock: InstantClock) -> None:
        self.clock = clock
        self.state = 0
        self.updates: list[tuple[float, int]] = []
        self.fail_next = False

    async def update(self) -> None:
        self.updates.append((self.clock.now(), self.state))
        await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("Discord said no")


async def settled(c: Coalescer) -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_burst_of_changes_is_one_update_per_interval_showing_the_newest_state() -> None:
    clock = InstantClock()
    shown = Shown(clock)
    c = Coalescer(shown.update, 1.0, clock)
    for i in range(1, 101):
        shown.state = i
        c.changed()
        if i % 10 == 0:
            await asyncio.sleep(0)
    await settled(c)
    times = [t for t, _ in shown.updates]
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))
    assert len(shown.updates) < 20
    assert shown.updates[-1][1] == 100  # the last change is always shown


async def test_the_first_update_waits_after_hold_and_stop_drops_what_is_pending() -> None:
    clock = InstantClock()
    shown = Shown(clock)
    c = Coalescer(shown.update, 1.0, clock)
    clock.time = 5.0
    c.hold()
    shown.state = 1
    c.changed()
    await settled(c)
    assert shown.updates == [(6.0, 1)] and clock.waits == [1.0]
    shown.state = 2
    c.changed()
    await c.stop()  # waiting its turn: cancelled, never shown
    await settled(c)
    assert shown.updates == [(6.0, 1)]


async def test_a_failed_update_does_not_stop_later_ones() -> None:
    clock = InstantClock()
    shown = Shown(clock)
    c = Coalescer(shown.update, 1.0, clock)
    shown.fail_next = True
    c.changed()
    await settled(c)
    shown.state = 7
    c.changed()
    await settled(c)
    assert [s for _, s in shown.updates] == [0, 7]


async def test_stop_lets_an_update_in_flight_finish() -> None:
    clock = InstantClock()
    release = asyncio.Event()
    done: list[str] = []

    async def slow() -> None:
        await release.wait()
        done.append("sent")

    c = Coalescer(slow, 1.0, clock)
    c.changed()
    await asyncio.sleep(0)
    stopping = asyncio.create_task(c.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await stopping
    assert done == ["sent"]  # not cut off half-sent
