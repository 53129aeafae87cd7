"""Thread conversations (append, load trimmed to a context) and the agent-thread registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.store import AgentThread, Store
from bot.store.conversations import MAX_STORED_IMAGE_BYTES
from executor.llm.types import (
    AssistantMessage,
    Image,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
    estimate_tokens,
)
from tests.databases import DatabaseUnderTest


@pytest.fixture
async def store(database: DatabaseUnderTest) -> AsyncIterator[Store]:
    async with Store(database.url) as opened:
        yield opened


def tool_turn(n: int, size: int = 40) -> list[Message]:
    """An assistant turn with two tool calls and their results."""
    calls = (ToolCall(f"c{n}a", "echo", '{"text": "a"}'), ToolCall(f"c{n}b", "echo", '{"text": "b"}'))
    return [
        AssistantMessage(f"calling {n}", calls, reasoning="because", reasoning_signature=f"sig{n}"),
        ToolResultMessage(f"c{n}a", "echo", "a" * size),
        ToolResultMessage(f"c{n}b", "echo", "b" * size, is_error=True),
    ]


def valid(messages: list[Message]) -> bool:
    """Every tool result follows the assistant turn that called it, and every call has its result."""
    open_calls: set[str] = set()
    for m in messages:
        if isinstance(m, ToolResultMessage):
            if m.call_id not in open_calls:
                return False
            open_calls.discard(m.call_id)
        else:
            if open_calls:
                return False
            if isinstance(m, AssistantMessage):
                open_calls = {c.id for c in m.tool_calls}
    return not open_calls


async def test_messages_round_trip_in_order(store: Store, database: DatabaseUnderTest) -> None:
    small = Image(b"\x89PNG small", "image/png", "https://cdn.example/small.png")
    history: list[Message] = [
        SystemMessage("be brief"),
        UserMessage("look at this", (small,)),
        *tool_turn(1),
        AssistantMessage("all done"),
    ]
    await store.conversations.append("t1", history[:3], run_id="run-a")
    await store.conversations.append("t1", history[3:], run_id="run-b")
    await store.conversations.append("t2", [UserMessage("another thread")])
    assert await store.conversations.load("t1", 100_000) == history
    assert await store.conversations.load("t2", 100_000) == [UserMessage("another thread")]
    assert await store.conversations.load("nobody", 100_000) == []
    runs = [r[0] for r in database.rows("SELECT run_id FROM conversation_messages WHERE thread_id = 't1' ORDER BY seq")]
    assert runs == ["run-a"] * 3 + ["run-b"] * 3


async def test_large_images_are_kept_by_reference(store: Store) -> None:
    big = Image(b"x" * (MAX_STORED_IMAGE_BYTES + 1), "image/jpeg", "https://cdn.example/big.jpg")
    exact = Image(b"y" * MAX_STORED_IMAGE_BYTES, "image/png")
    anonymous = Image(b"z" * (MAX_STORED_IMAGE_BYTES + 1), "image/gif")
    await store.conversations.append(
        "t1",
        [
            UserMessage("two pictures", (big, exact)),
            AssistantMessage("", (ToolCall("c", "view"),)),
            ToolResultMessage("c", "view", "shot", images=(anonymous,)),
        ],
    )
    user, _, result = await store.conversations.load("t1", 100_000)
    assert isinstance(user, UserMessage) and isinstance(result, ToolResultMessage)
    assert user.images == (exact,)
    assert user.content == "two pictures\n[image not kept (image/jpeg): https://cdn.example/big.jpg]"
    assert result.images == ()
    assert result.content == "shot\n[image not kept (image/gif): no source recorded]"


async def test_drop_images_removes_them_from_one_thread_and_leaves_a_note(store: Store) -> None:
    png = Image(b"\x89PNG small", "image/png", "https://cdn.example/small.png")
    big = Image(b"x" * (MAX_STORED_IMAGE_BYTES + 1), "image/jpeg", "https://cdn.example/big.jpg")
    turns: list[Message] = [
        UserMessage("look", (png,)),
        AssistantMessage("", (ToolCall("c1", "view_image", "{}"),)),
        ToolResultMessage("c1", "view_image", "attached", images=(big,)),
        AssistantMessage("a cat"),
    ]
    await store.conversations.append("t1", turns, "r1")
    await store.conversations.append("t2", [UserMessage("keep", (png,))], "r2")
    await store.conversations.drop_images("t1", "[dropped]")
    loaded = await store.conversations.load("t1", 10_000)
    assert loaded == [
        UserMessage("look\n[dropped]"),
        turns[1],
        ToolResultMessage("c1", "view_image", "attached\n[dropped]"),
        turns[3],
    ]
    assert await store.conversations.load("t2", 10_000) == [UserMessage("keep", (png,))]


async def test_load_trims_from_the_oldest_to_fit(store: Store) -> None:
    history: list[Message] = []
    for n in range(10):
        history += [UserMessage(f"question {n} " + "q" * 100), *tool_turn(n), AssistantMessage(f"answer {n}")]
    await store.conversations.append("t1", history)
    full = estimate_tokens(history)
    for budget in range(0, full + 50, 7):
        loaded = await store.conversations.load("t1", budget)
        assert estimate_tokens(loaded) <= budget
        assert loaded == history[len(history) - len(loaded) :]  # a suffix: trimmed from the oldest only
        assert valid(loaded), budget
        assert not loaded or not isinstance(loaded[0], ToolResultMessage)
    assert await store.conversations.load("t1", full) == history
    # A budget that fits everything but one token short drops at least the first message.
    assert (await store.conversations.load("t1", full - 1))[0] != history[0]


async def test_a_tool_turn_is_never_split(store: Store) -> None:
    await store.conversations.append("t1", [UserMessage("go"), *tool_turn(1, size=400), AssistantMessage("ok")])
    tail: list[Message] = [AssistantMessage("ok")]
    with_turn = [*tool_turn(1, size=400), *tail]
    # One token short of the whole turn: room for the answer and most of the turn, not all of it.
    assert await store.conversations.load("t1", estimate_tokens(with_turn) - 1) == tail
    assert await store.conversations.load("t1", estimate_tokens(with_turn)) == with_turn


async def test_orphan_results_and_unanswered_calls_are_dropped(store: Store) -> None:
    orphan = ToolResultMessage("gone", "echo", "result whose call was never stored")
    unanswered = AssistantMessage("", (ToolCall("x1", "echo"), ToolCall("x2", "echo")))
    partial = ToolResultMessage("x1", "echo", "only one of two")
    stray = ToolResultMessage("zz", "echo", "answers no call of its turn")
    await store.conversations.append("t1", [orphan, UserMessage("hi"), unanswered, partial, UserMessage("again")])
    await store.conversations.append("t1", [*tool_turn(2)[:2], stray, tool_turn(2)[2]])
    loaded = await store.conversations.load("t1", 100_000)
    assert loaded == [UserMessage("hi"), UserMessage("again"), *tool_turn(2)]
    assert valid(loaded)


async def test_concurrent_appends_stay_whole(store: Store) -> None:
    await asyncio.gather(*(store.conversations.append("t1", tool_turn(n), run_id=f"r{n}") for n in range(20)))
    loaded = await store.conversations.load("t1", 1_000_000)
    assert len(loaded) == 60
    assert valid(loaded)
    assert await store.conversations.load("t1", 0) == []


async def test_the_agent_thread_registry(store: Store) -> None:
    assert await store.threads.get("t1") is None
    assert await store.threads.set_open_to_all("t1", True) is False
    thread = AgentThread("t1", "g1", "c1", "helper", "u1")
    await store.threads.set(thread)
    assert await store.threads.get("t1") == thread
    assert await store.threads.set_open_to_all("t1", True) is True
    assert await store.threads.get("t1") == AgentThread("t1", "g1", "c1", "helper", "u1", open_to_all=True)
    await store.threads.set(AgentThread("t1", "g1", "c1", "writer", "u1"))
    assert await store.threads.get("t1") == AgentThread("t1", "g1", "c1", "writer", "u1", open_to_all=False)


async def test_writes_to_one_table_keep_their_order(store: Store) -> None:
    versions = [AgentThread("t1", "g1", "c1", f"agent{n}", "u1", open_to_all=n % 2 == 0) for n in range(9)]
    await asyncio.gather(*(store.threads.set(v) for v in versions))
    assert await store.threads.get("t1") == versions[-1]
