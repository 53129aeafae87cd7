"""Every message the bot sends fits Discord's 2,000 characters (the emulator
refuses longer ones with 400/50035, as Discord does), whatever a member types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.splitting import DISCORD_LIMIT
from tests.bot_harness import Harness, running_bot
from tests.fakes.model_servers import Reply


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(tmp_path) as harness:
        yield harness
        assert harness.emu.violations == [], harness.emu.violations


def prompt_of(length: int) -> str:
    """A prompt of ``length`` characters of numbered words, so order can be checked."""
    words = " ".join(f"w{i:04d}" for i in range(length // 6 + 1))
    return words[:length]


async def test_a_4000_character_prompt_is_echoed_in_full_and_runs(h: Harness) -> None:
    prompt = prompt_of(4000)
    h.model.script(Reply.text("Read it all."))
    inter = await h.emu.send_slash_command("ask", {"prompt": prompt}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    mine = [m for m in h.emu.messages_in(thread) if m.author.id == h.emu.bot_user.id]
    assert all(0 < len(m.content) <= DISCORD_LIMIT for m in mine)
    echo = [m.content for m in mine if m.content.startswith((f"**{h.emu.member.user.global_name}", ">>> "))]
    assert len(echo) >= 3 and "asked:" in echo[0]
    assert " ".join(e.split(">>> ", 1)[1] for e in echo).split() == prompt.split()
    assert [m.content for m in mine][-1] == "Read it all."
    sent = h.model.requests[0]["messages"][-1]["content"]
    assert sent == prompt  # the model got the whole prompt, not the shortened echo
    original = h.emu.message(inter.original_message_id) if inter.original_message_id else None
    assert original is not None and str(thread.id) in original.content
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    assert run.status == "ok"


async def test_refusals_that_quote_what_a_member_typed_fit(h: Harness) -> None:
    typed = "x" * 3000
    replies = []
    for name, options in [("ask", {"prompt": "hi", "agent": typed}), ("run", {"run_id": typed}), ("cancel", {"run_id": typed})]:
        inter = await h.emu.send_slash_command(name, options, user=h.emu.member)
        await h.emu.wait_for(lambda: inter.original_message_id and h.emu.message(inter.original_message_id).content)
        replies.append(h.emu.message(inter.original_message_id).content)
    unknown, run, cancel = replies
    assert "There is no agent called `xxx" in unknown and "…" in unknown and "`assistant`" in unknown
    assert run.startswith("No run `xxx") and run.endswith("/runs lists your recent runs.")
    assert cancel.startswith("Run `xxx") and cancel.endswith("is not running any more.")
    assert all(len(r) <= DISCORD_LIMIT for r in replies) and h.emu.threads == [] and h.model.requests == []
