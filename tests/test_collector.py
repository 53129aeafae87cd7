"""The collector tuning the bot applies at start (bot/collector.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.collector import YOUNG_THRESHOLD, tune_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_leave_the_collectors_sight_and_young_collections_come_less_often() -> None:
    long_lived = [object() for _ in range(10)]
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    tune_collector()
    assert gc.get_freeze_count() >= len(long_lived)
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


@pytest.mark.usefixtures("restored_collector")
def test_cycles_made_after_start_up_are_still_collected_by_themselves() -> None:
    class Node:
        def __init__(self) -> None:
            self.peer: Node | None = None

    tune_collector()
    a, b = Node(), Node()
    a.peer, b.peer = b, a
    gone = weakref.ref(a)
    del a, b
    # No gc.collect(): the young collections the allocations trigger find the cycle.
    keep = [[i] for i in range(3 * YOUNG_THRESHOLD)]
    assert gone() is None
    assert keep
