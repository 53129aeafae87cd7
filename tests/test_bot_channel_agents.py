"""Agents bound to channels, end to end: /agent bind and unbind, the bound
agent answering mentions and /ask in the channel, its threads and forum
posts, /agents listing the bindings, and the refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import Harness, bot_on
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import GUILD_FORUM, Channel, Member
from tests.fakes.model_servers import FakeOpenAIServer, Reply


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        emu.add_channel("help", type=GUILD_FORUM)
        emu.add_channel("secret", hidden_from_bot=True)
        with emu.patch_discord():
            async with bot_on(tmp_path, emu, model) as harness:
                harness.model.respond_with(lambda body: Reply.text("ok"))
                yield harness
                assert emu.violations == [], emu.violations
                assert emu.unknown_routes == [], emu.unknown_routes


async def command(h: Harness, name: str, options: dict[str, Any], user: Member, channel: Channel | None = None) -> str:
    """Run a slash command; the text it answered (its first response or followup)."""
    inter = await h.emu.send_slash_command(name, options, user=user, channel=channel)
    await h.emu.wait_for(lambda: inter.acknowledged)
    data = inter.callbacks[0].body.get("data") or {}
    if data.get("content"):
        return str(data["content"])
    def followup() -> str | None:
        original = inter.original_message_id
        return (h.emu.message(original).content or None) if original else None

    return await h.emu.wait_for(followup)


async def agent_of_the_next_run(h: Harness, runs: int) -> str:
    """The agent of the newest conversation, once ``runs`` runs are reported."""
    await h.idle(runs)
    newest = (await h.store.runs.recent(str(h.emu.guild.id), limit=1))[0]
    return newest.agent_id


async def test_a_bound_agent_answers_mentions_and_ask_in_its_channel_threads_and_forum_posts(h: Harness) -> None:
    emu, forum = h.emu, h.emu.channel("help")
    said = await command(h, "agent bind", {"channel": emu.random, "agent": "researcher"}, emu.admin)
    assert "researcher" in said and emu.random.mention in said
    await command(h, "agent bind", {"channel": forum, "agent": "researcher"}, emu.admin)

    await command(h, "ask", {"prompt": "In random"}, emu.member, emu.random)
    assert await agent_of_the_next_run(h, 1) == "researcher"
    await command(h, "ask", {"prompt": "In general"}, emu.member, emu.general)
    assert await agent_of_the_next_run(h, 2) == "assistant"  # unbound: the default
    await command(h, "ask", {"prompt": "Named", "agent": "assistant"}, emu.member, emu.random)
    assert await agent_of_the_next_run(h, 3) == "assistant"  # a named agent wins over the binding
    await emu.post_message(f"{emu.bot_user.mention} mentioned in random", user=emu.member, channel=emu.random)
    assert await agent_of_the_next_run(h, 4) == "researcher"

    # A forum post: a mention in it makes the post itself the conversation.
    post = await emu.start_thread("My question", user=emu.member, channel=forum)
    await emu.post_message("Some context first.", user=emu.member, channel=post)
    await emu.post_message(f"{emu.bot_user.mention} what about it?", user=emu.member, channel=post)
    assert await agent_of_the_next_run(h, 5) == "researcher"
    record = await h.store.threads.get(str(post.id))
    assert record is not None and (record.agent_id, record.channel_id) == ("researcher", str(forum.id))
    assert any(m.content == "ok" for m in emu.messages_in(post))
    assert len(emu.threads) == 5  # four opened by the bot, and the post answered in place
    # A follow-up in the post continues it; the context before the mention stays unanswered.
    await emu.post_message("and more?", user=emu.member, channel=post)
    await h.idle(6)
    assert [m["content"] for m in h.model.requests[-1]["messages"] if m["role"] == "user"][-2:] == [
        "what about it?",
        "and more?",
    ]
    # /ask in another post of the forum answers in that post.
    other = await emu.start_thread("Second question", user=emu.member, channel=forum)
    await command(h, "ask", {"prompt": "In a post"}, emu.member, other)
    assert await agent_of_the_next_run(h, 7) == "researcher"
    assert any(m.content == "ok" for m in emu.messages_in(other))
    assert "already talks to an agent" in await command(h, "ask", {"prompt": "again"}, emu.member, other)

    listed = await command(h, "agents", {}, emu.member)
    assert f"{emu.random.mention} → `researcher`" in listed and f"{forum.mention} → `researcher`" in listed
    said = await command(h, "agent unbind", {"channel": emu.random}, emu.admin)
    assert "no longer" in said and "researcher" in said
    await command(h, "ask", {"prompt": "In random again"}, emu.member, emu.random)
    assert await agent_of_the_next_run(h, 8) == "assistant"
    assert emu.random.mention not in await command(h, "agents", {}, emu.member)


async def test_binding_refuses_members_unknown_agents_and_channels_the_bot_cannot_see(h: Harness) -> None:
    emu, secret = h.emu, h.emu.channel("secret")
    said = await command(h, "agent bind", {"channel": emu.random, "agent": "researcher"}, emu.member)
    assert "Manage Server" in said
    said = await command(h, "agent bind", {"channel": emu.random, "agent": "ghost"}, emu.admin)
    assert "no agent called `ghost`" in said and "`researcher`" in said
    said = await command(h, "agent bind", {"channel": secret, "agent": "researcher"}, emu.admin)
    assert "cannot see" in said and "**View Channel**" in said and "nothing was bound" in said
    assert "no agent bound" in await command(h, "agent unbind", {"channel": emu.random}, emu.admin)
    assert await h.store.channel_agents.in_guild(str(emu.guild.id)) == []
    commands = {c["name"]: c for c in emu.guild_commands[emu.guild.id]}
    assert commands["agent"]["default_member_permissions"] == str(1 << 5)  # hidden from members: Manage Server


async def test_a_forum_post_taken_over_is_not_answered_again_after_a_restart(tmp_path: Path) -> None:
    """What was written in the post before the mention, and the mention
    itself, are no follow-ups for the start-up catch-up."""
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        forum = emu.add_channel("help", type=GUILD_FORUM)
        model.respond_with(lambda body: Reply.text("ok"))
        with emu.patch_discord():
            async with bot_on(tmp_path, emu, model) as first:
                await command(first, "agent bind", {"channel": forum, "agent": "researcher"}, emu.admin)
                post = await emu.start_thread("My question", user=emu.member, channel=forum)
                await emu.post_message("Some context first.", user=emu.member, channel=post)
                await emu.post_message(f"{emu.bot_user.mention} what about it?", user=emu.member, channel=post)
                await first.idle()
            assert len(model.requests) == 1
            async with bot_on(tmp_path, emu, model) as second:
                await emu.post_message("and more?", user=emu.member, channel=post)
                await second.idle()
            assert len(model.requests) == 2  # only the new message: nothing caught up twice
            assert [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "user"][-1] == "and more?"
