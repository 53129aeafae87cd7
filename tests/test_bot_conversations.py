"""The owner of thread conversations and the thread runner, against the
Discord emulator: a message is taken up once, the answer and its files are
sent into the thread the runner holds, and unloading the cog stops what it
started."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord_host.delivery import MAX_FILES_PER_MESSAGE, deliver, pack_artifacts
from executor import Result
from executor.tools import Artifact, PostRunResult
from tests.bot_harness import Harness, bot_on, running_bot, thread_of_a_past_run
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.model_servers import FakeOpenAIServer, Reply


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(tmp_path) as harness:
        yield harness
        assert harness.emu.violations == [], harness.emu.violations


def bot_texts(h: Harness, channel: Any) -> list[str]:
    return [m.content for m in h.emu.messages_in(channel) if m.author.id == h.emu.bot_user.id]


async def test_a_message_taken_up_again_is_left_alone(h: Harness) -> None:
    """The claim in the store is the one de-duplication: a message answered
    live and then read again (as a catch-up that listed it before the claim
    would) is not answered twice."""
    h.model.script(Reply.text("Paris."), Reply.text("About two million."), Reply.text("a second answer"))
    await h.emu.send_slash_command("ask", {"prompt": "Capital of France?"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    posted = await h.emu.post_message("And its population?", user=h.emu.member, channel=thread)
    await h.idle(2)
    channel = h.bot.get_channel(thread.id)
    assert isinstance(channel, discord.Thread)
    message = await channel.fetch_message(posted.id)
    await asyncio.gather(h.bot.conversations.take(message), h.bot.conversations.take(message))
    assert len(h.model.requests) == 2 and h.bot.runner.completed == 2
    assert "a second answer" not in bot_texts(h, thread)


async def test_the_host_answers_in_the_thread_itself(h: Harness) -> None:
    """No Delivery port is installed in the executor: the thread runner, which
    holds the thread, sends the answer."""
    assert h.services.executor.config.ports.delivery is None
    h.model.script(Reply.text("hi there"))
    await h.emu.send_slash_command("ask", {"prompt": "hello"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    assert bot_texts(h, thread)[-1] == "hi there"


async def test_files_are_sent_within_the_upload_limit_and_the_rest_named(h: Harness) -> None:
    h.model.script(Reply.text("ready"))
    await h.emu.send_slash_command("ask", {"prompt": "make a thread"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    channel = h.bot.get_channel(thread.id)
    assert isinstance(channel, discord.Thread)
    files = [Artifact("a.txt", b"a" * 600), Artifact("b.txt", b"b" * 600), Artifact("big.bin", b"z" * 3 * 1_048_576)]
    before = len(h.emu.messages_in(thread))
    await deliver(channel, Result("r1", output="Here are your files.", post_run_result=PostRunResult(files)), 1_048_576)
    sent = h.emu.messages_in(thread)[before:]
    assert [(m.content, [a.filename for a in m.attachments]) for m in sent[:2]] == [
        ("Here are your files.", ["a.txt", "b.txt"]),
        (sent[1].content, []),
    ]
    assert "`big.bin` (3.0 MiB)" in sent[1].content and "upload limit of 1 MiB" in sent[1].content
    assert len(sent) == 2


def test_files_are_packed_by_count_and_by_size() -> None:
    many = [Artifact(f"f{i}.txt", b"x") for i in range(MAX_FILES_PER_MESSAGE + 2)]
    assert [len(g) for g in pack_artifacts(many, 1000).groups] == [MAX_FILES_PER_MESSAGE, 2]
    sized = [Artifact("a", b"x" * 600), Artifact("b", b"x" * 600), Artifact("c", b"x" * 2000)]
    packed = pack_artifacts(sized, 1000)
    assert [[a.name for a in g] for g in packed.groups] == [["a"], ["b"]]
    assert [a.name for a in packed.too_big] == ["c"]


async def test_unloading_the_ask_cog_cancels_its_catch_up(tmp_path: Path) -> None:
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        with emu.patch_discord():
            model.script(Reply.text("Paris."))
            thread = await thread_of_a_past_run(tmp_path, emu, model, "Capital of France?")
            await emu.post_message("And of Spain?", user=emu.member, channel=thread)  # while the bot is down
            model.script(Reply.text("too late", delay=30))
            async with bot_on(tmp_path, emu, model) as second:
                await emu.wait_for(lambda: len(model.requests) == 2 or None)  # the catch-up's run is going
                await second.bot.remove_cog("AskCog")
                runs = await second.store.runs.recent(str(emu.guild.id))
                assert runs[0].status == "cancelled"
                assert second.bot.runner.in_flight == 0
