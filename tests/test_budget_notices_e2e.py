"""Budget notices through the Discord emulator: the warning once a period in
the thread without a ping, who is near a limit in /budget show, and an
agent's cheaper tier near a limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Limit, LimitChange, Period, role_key
from executor.llm.types import Usage
from tests.bot_harness import Harness, running_bot
from tests.fakes.model_servers import Reply


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(tmp_path, model_prices="fake-fast=10/20") as harness:
        yield harness


async def test_a_member_is_warned_once_near_a_limit_and_a_cheaper_tier_takes_over(h: Harness) -> None:
    guild, member = str(h.emu.guild.id), h.emu.member
    await h.store.budget.set_limits(guild, None, [LimitChange(Limit.TOKENS, 1_000)])
    h.model.script(
        Reply.text("first answer", usage=Usage(900, 50)),  # 950 of 1,000 tokens: past 80 % and 90 %
        Reply.text("second answer", usage=Usage(1, 1)),
        Reply.text("researched", usage=Usage(1, 1)),
    )
    await h.emu.send_slash_command("ask", {"prompt": "first"}, user=member)
    thread = await h.thread_of()
    await h.idle()
    await h.emu.post_message("and then?", user=member, channel=thread)
    await h.idle(2)
    await h.emu.send_slash_command("ask", {"prompt": "dig in", "agent": "researcher"}, user=member)
    researched = await h.thread_of(2)
    await h.idle(3)

    warnings = [m for t in (thread, researched) for m in h.emu.messages_in(t) if m.content.startswith("⚠️ <@")]
    assert [m.content.split(";")[0] for m in warnings] == [
        f"⚠️ <@{member.user.id}>, you have used 950 of 1,000 tokens this day (95 % of your limit)"
    ]
    assert warnings[0].channel_id == thread.id
    assert warnings[0].allowed_mentions is not None and warnings[0].allowed_mentions.get("parse") == []
    # The first run's progress message ends with its cost: 900 x $10 + 50 x $20 per million tokens.
    progress = next(m for m in h.emu.messages_in(thread) if "run `" in m.content)
    assert "950 tokens · cost $0.0100" in progress.content
    # The researcher (tier smart) ran on its cheaper tier, and said so in its thread.
    assert [r["model"] for r in h.model.requests] == ["fake-fast", "fake-fast", "fake-fast"]
    notice = next(m for m in h.emu.messages_in(researched) if m.content.startswith("💸"))
    assert "95 % of your tokens limit this day" in notice.content and "cheaper `fast` tier" in notice.content
    assert (await h.store.runs.recent(guild))[0].tier == "fast"

    manager = h.emu.add_member("dana", manage_guild=True)
    show = await h.emu.send_slash_command("budget show", {}, user=manager)
    await h.emu.wait_for(lambda: show.acknowledged)
    text = show.callbacks[0].body["data"]["content"]
    assert f"**Near their limits** (from 80 %)\n<@{member.user.id}> · tokens 954 of 1,000 tokens (95 %) this day" in text

    # /budget role keeps a role's limits, in dollars, beside the members'.
    role = h.emu.manager_role
    set_role = await h.emu.send_slash_command("budget role", {"role": role, "usd": 2.5, "period": "week"}, user=manager)
    await h.emu.wait_for(lambda: set_role.acknowledged)
    assert "usd: $2.50 per week" in set_role.callbacks[0].body["data"]["content"]
    limits = await h.store.budget.get_limits(guild, role_key(str(role.id)))
    assert (limits.amount(Limit.USD), limits.period(Limit.USD)) == (2_500_000, Period.WEEK)
