"""Agents bound to channels, in the store (both databases)."""

from __future__ import annotations

from bot.store import Store

GUILD, OTHER = "111", "222"


async def test_bind_replace_look_up_list_and_unbind(opened_store: Store) -> None:
    bindings = opened_store.channel_agents
    assert await bindings.bind(GUILD, "10", "researcher", "admin") is None
    assert await bindings.bind(GUILD, "10", "assistant", "owner") == "researcher"  # replaced, one per channel
    assert await bindings.bind(GUILD, "20", "researcher", "admin") is None
    assert await bindings.bind(OTHER, "30", "assistant", "admin") is None
    # A thread has no binding of its own: its channel's is found after it.
    assert await bindings.agent_for("99", "10") == "assistant"
    assert await bindings.agent_for("20", "10") == "researcher"  # the first id that has one wins
    assert await bindings.agent_for("99", "") is None and await bindings.agent_for() is None
    listed = await bindings.in_guild(GUILD)
    assert [(b.channel_id, b.agent_id, b.bound_by) for b in listed] == [("10", "assistant", "owner"), ("20", "researcher", "admin")]
    assert await bindings.unbind(OTHER, "10") is None  # another server's command cannot touch it
    assert await bindings.unbind(GUILD, "10") == "assistant"
    assert await bindings.unbind(GUILD, "10") is None
    assert await bindings.agent_for("10") is None
    assert [b.channel_id for b in await bindings.in_guild(GUILD)] == ["20"]
