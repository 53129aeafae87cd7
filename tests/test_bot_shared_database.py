"""Two bots on one token and one database (two processes of one deployment,
unsharded): Discord sends each of them every event, and one answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.bot_harness import Harness, bot_on
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.model_servers import FakeOpenAIServer, Reply


def follow_ups_done(h: Harness) -> list[int]:
    """Wraps the bot's message handler (the real one still runs) to list the
    messages it has finished with, answered or left alone."""
    conversations: Any = h.bot.conversations
    done: list[int] = []
    original = conversations.take

    async def take(message: Any) -> None:
        try:
            await original(message)
        finally:
            done.append(message.id)

    conversations.take = take
    return done


async def test_a_follow_up_seen_by_two_bots_is_answered_once(tmp_path: Path) -> None:
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        with emu.patch_discord():
            model.script(Reply.text("Paris."), Reply.text("About two million."), Reply.text("a second answer"))
            async with bot_on(tmp_path, emu, model) as one:
                await emu.send_slash_command("ask", {"prompt": "Capital of France?"}, user=emu.member)
                thread = await one.thread_of()
                await one.idle()
                async with bot_on(tmp_path, emu, model) as two:
                    assert one.store.executor_id != two.store.executor_id
                    done = [follow_ups_done(one), follow_ups_done(two)]
                    message = await emu.post_message("And its population?", user=emu.member, channel=thread)
                    # Both have finished with it (a run included: the handler awaits it), or
                    # the second bot's start-up catch-up took it first and answers it itself.
                    await emu.wait_for(lambda: all(message.id in d for d in done) or None, timeout=10)
                    runners = (one.bot.runner, two.bot.runner)
                    await emu.wait_for(
                        lambda: sum(r.completed for r in runners) == 2 and not any(r.in_flight for r in runners) or None,
                        timeout=10,
                    )
                    assert len(model.requests) == 2, "both bots answered the follow-up"
                    answers = [m.content for m in emu.messages_in(thread) if m.author.id == emu.bot_user.id]
                    assert answers.count("About two million.") == 1 and "a second answer" not in answers
                    assert one.bot.runner.completed + two.bot.runner.completed == 2
                    assert emu.violations == []
