"""Members' memories in the store: full-text search on each database, kept
apart per member and per scope, capped, forgotten on request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.store import MAX_MEMORY_CHARS, MemoryFull, Store
from bot.store import memory as memory_module
from tests.databases import DatabaseUnderTest

GUILD, OTHER_GUILD, DMS = "111", "222", "dm"


@pytest.fixture
async def store(database: DatabaseUnderTest) -> AsyncIterator[Store]:
    async with Store(database.url) as opened:
        yield opened


async def test_search_finds_by_words_best_first(store: Store) -> None:
    memory = store.memory
    await memory.remember(GUILD, "bob", "Favourite colour: teal.")
    await memory.remember(GUILD, "bob", "Works night shifts at the harbour.")
    await memory.remember(GUILD, "bob", "Colour blind? No.")
    found = await memory.search(GUILD, "bob", "What is my favourite colour?")
    assert [m.content for m in found] == ["Favourite colour: teal.", "Colour blind? No."]
    assert [m.content for m in await memory.search(GUILD, "bob", "HARBOUR")] == ["Works night shifts at the harbour."]
    assert await memory.search(GUILD, "bob", "submarine") == []


async def test_query_syntax_is_read_as_words(store: Store) -> None:
    """Quotes, operators and column filters of FTS5 or tsquery are plain text."""
    await store.memory.remember(GUILD, "bob", "content: NEAR the OR gate")
    for query in ['"', "content:", "NEAR(", "a & !b |", "*", "') OR 1=1 --", "gate)"]:
        found = await store.memory.search(GUILD, "bob", query)
        assert all(m.content == "content: NEAR the OR gate" for m in found), query
    assert len(await store.memory.search(GUILD, "bob", "gate)")) == 1


async def test_an_empty_query_lists_the_newest(store: Store) -> None:
    for n in range(3):
        await store.memory.remember(GUILD, "bob", f"fact {n}")
    assert [m.content for m in await store.memory.search(GUILD, "bob", " ?! ", limit=2)] == ["fact 2", "fact 1"]


async def test_memories_stay_with_their_member_and_scope(store: Store) -> None:
    memory = store.memory
    await memory.remember(GUILD, "bob", "bob's secret: pineapple")
    await memory.remember(GUILD, "alice", "alice's secret: pineapple")
    await memory.remember(OTHER_GUILD, "bob", "bob elsewhere: pineapple")
    await memory.remember(DMS, "bob", "bob in DMs: pineapple")
    assert [m.content for m in await memory.search(GUILD, "bob", "pineapple")] == ["bob's secret: pineapple"]
    assert [m.content for m in await memory.recent(DMS, "bob")] == ["bob in DMs: pineapple"]
    assert [m.content for m in await memory.recent(OTHER_GUILD, "bob")] == ["bob elsewhere: pineapple"]
    # Forgetting another member's memory by its id does nothing.
    alices = (await memory.recent(GUILD, "alice"))[0]
    assert await memory.forget(GUILD, "bob", alices.id) == 0
    assert await memory.forget(DMS, "alice", alices.id) == 0
    assert [m.content for m in await memory.recent(GUILD, "alice")] == ["alice's secret: pineapple"]


async def test_forget_one_or_all_and_search_follows(store: Store, database: DatabaseUnderTest) -> None:
    memory = store.memory
    first = await memory.remember(GUILD, "bob", "likes tea")
    await memory.remember(GUILD, "bob", "likes coffee")
    await memory.remember(DMS, "bob", "likes cocoa")
    assert await memory.forget(GUILD, "bob", first.id) == 1
    assert [m.content for m in await memory.search(GUILD, "bob", "likes tea")] == ["likes coffee"]
    assert await memory.forget(GUILD, "bob") == 1
    assert await memory.search(GUILD, "bob", "likes") == []
    assert [m.content for m in await memory.search(DMS, "bob", "likes")] == ["likes cocoa"]
    if database.backend == "sqlite":  # the FTS index follows the deletes
        assert database.rows("SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'tea'") == []


async def test_long_memories_are_cut_and_the_count_is_capped(
    store: Store, database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = await store.memory.remember(GUILD, "bob", "x" * (MAX_MEMORY_CHARS + 50))
    assert len(kept.content) == MAX_MEMORY_CHARS
    monkeypatch.setattr(memory_module, "MAX_MEMORIES", 3)
    outcomes = await asyncio.gather(
        *(store.memory.remember(GUILD, "bob", f"fact {n}") for n in range(4)), return_exceptions=True
    )
    assert sum(isinstance(o, MemoryFull) for o in outcomes) == 2
    assert database.rows("SELECT COUNT(*) FROM memories WHERE member_id = 'bob'") == [(3,)]
    await store.memory.remember(GUILD, "alice", "alice is not capped by bob's count")
