"""Streamed answers end to end: the real bot against the Discord emulator and
an OpenAI fake that drips its answer, held where the test needs to look.

The bot's edits are paced by an InstantClock, so nothing here sleeps or
times anything: ``hold_after`` stops the model mid-answer while the test
looks at the thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.splitting import split_message
from executor.llm import ToolCall, Usage
from tests.bot_harness import ROOT, Harness, running_bot
from tests.fakes.discord_model import Channel, Message
from tests.fakes.model_servers import Reply
from tests.fakes.pacing import InstantClock


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(tmp_path) as harness:
        harness.bot.runner.clock = InstantClock()
        yield harness
        assert harness.emu.violations == [], harness.emu.violations
        assert harness.emu.unknown_routes == [], harness.emu.unknown_routes


def posted(h: Harness, thread: Channel) -> tuple[Message | None, list[Message]]:
    """The run's progress message (None before it is posted) and what the
    bot posted after it (the prompt's quote comes first), deleted messages
    left out."""
    mine = [m for m in h.emu.messages_in(thread) if m.author.id == h.emu.bot_user.id]
    return (mine[1] if len(mine) > 1 else None), mine[2:]


def progress_text(h: Harness, thread: Channel) -> str:
    progress = posted(h, thread)[0]
    return progress.content if progress else ""


async def ask(h: Harness, prompt: str) -> Channel:
    await h.emu.send_slash_command("ask", {"prompt": prompt}, user=h.emu.member)
    return await h.thread_of()


def fences_balanced(text: str) -> bool:
    return sum(line.startswith("```") for line in text.split("\n")) % 2 == 0


async def test_a_long_answer_grows_spills_over_with_balanced_fences_and_ends_as_the_plain_answer(h: Harness) -> None:
    lines = "\n".join(f"print('line {i:03d} of the streamed example')" for i in range(90))
    answer = f"Here is the script.\n\n```python\n{lines}\n```\n\nThat is all."
    h.model.chunk_chars = 40
    h.model.script(Reply.text(answer, usage=Usage(input_tokens=321, output_tokens=987), hold_after=60))
    thread = await ask(h, "Write a long script")

    def two_drafts() -> list[Message] | None:
        drafts = posted(h, thread)[1]
        return drafts if len(drafts) == 2 and drafts[1].content.startswith("```python\n") else None

    drafts = await h.emu.wait_for(two_drafts)  # past 2,000 characters while the model is still writing
    assert all(fences_balanced(d.content) and len(d.content) <= 2000 for d in drafts)
    assert drafts[0].content.endswith("\n```") and len(drafts[1].content) < len(answer) - 2000
    h.model.release()
    await h.idle()
    final = posted(h, thread)[1]
    assert [m.content for m in final] == split_message(answer)  # what an unstreamed answer is sent as
    assert [m.id for m in final] == [d.id for d in drafts]  # the drafts became the answer
    assert final[-1].edits  # it grew in place
    assert "choosing" not in progress_text(h, thread) and "ok" in progress_text(h, thread)
    request = h.model.requests[0]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    assert (run.status, run.usage.input_tokens, run.usage.output_tokens) == ("ok", 321, 987)


async def test_a_tool_turn_streams_into_the_progress_message_and_only_the_answer_is_posted(h: Harness) -> None:
    preamble = "Let me work that out."  # 6 pieces of 4 characters
    calc = ToolCall("", "calculator", '{"expression": "6*7"}')
    h.model.script(Reply(content=preamble, calls=(calc,), hold_after=1 + 6 + 1), Reply.text("6 times 7 is 42."))
    thread = await ask(h, "What is 6 times 7?")
    # Held after the tool's name, the model still writing its arguments: the
    # progress message names the tool, and the turn's text is no answer.
    await h.emu.wait_for(
        lambda: "choosing `calculator`" in progress_text(h, thread)
        and not any(preamble in m.content for m in h.emu.messages_in(thread))
        or None
    )
    h.model.release()
    await h.idle()
    final = posted(h, thread)[1]
    assert [m.content for m in final] == ["6 times 7 is 42."]
    assert not any(preamble in m.content for m in h.emu.messages_in(thread))
    assert "1 tool call" in progress_text(h, thread)


async def test_a_stream_cut_off_midway_ends_in_a_clean_error_and_withdraws_the_draft(h: Harness) -> None:
    partial = "A first half that wi"  # 5 pieces of 4 characters, after the role chunk
    h.model.script(Reply.text(partial + "ll never be finished, sadly.", hold_after=6, cut_after=9))
    thread = await ask(h, "Tell me something")
    drafts = await h.emu.wait_for(lambda: posted(h, thread)[1] or None)
    assert drafts[0].content == partial
    h.model.release()  # three more pieces, then the connection drops
    await h.idle()
    final = posted(h, thread)[1]
    assert len(final) == 1 and final[0].id == drafts[0].id  # the draft was replaced, not left standing
    assert "broke off its answer" in final[0].content and "run `" in final[0].content
    assert not any("first half" in m.content for m in h.emu.messages_in(thread))
    assert "error" in progress_text(h, thread)
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    assert run.status == "error" and run.output == ""


async def test_a_draft_deleted_while_the_answer_grows_does_not_lose_the_answer(h: Harness) -> None:
    # A moderator (or the member) deletes the half-written draft: the answer
    # still reaches the thread, in new messages.
    partial = "The answer, still "  # 4-character pieces after the role chunk
    answer = partial + "being written when its draft was deleted."
    h.model.script(Reply.text(answer, hold_after=6))
    thread = await ask(h, "Tell me something")
    drafts = await h.emu.wait_for(lambda: posted(h, thread)[1] or None)
    await h.emu.delete_message(drafts[0])
    h.model.release()
    await h.idle()
    final = posted(h, thread)[1]
    assert [m.content for m in final] == [answer]
    assert final[0].id != drafts[0].id
    assert "ok" in progress_text(h, thread)


class PausableClock(InstantClock):
    """An InstantClock whose waits, once paused, never end: no paced edit
    goes out after ``pause()``."""

    def __init__(self) -> None:
        super().__init__()
        self._never = asyncio.Event()
        self.paused = False

    async def sleep(self, seconds: float) -> None:
        if self.paused:
            await self._never.wait()
        await super().sleep(seconds)


async def test_a_draft_deleted_just_before_the_answer_is_settled_is_sent_again(h: Harness) -> None:
    # No edit between the deletion and the end of the run: the bot learns the
    # draft is gone when it settles the answer into it.
    clock = h.bot.runner.clock = PausableClock()
    partial = "The answer, still "
    answer = partial + "being written when its draft was deleted."
    h.model.script(Reply.text(answer, hold_after=6))
    thread = await ask(h, "Tell me something")
    drafts = await h.emu.wait_for(lambda: posted(h, thread)[1] or None)
    clock.paused = True
    await h.emu.delete_message(drafts[0])
    h.model.release()
    await h.idle()
    final = posted(h, thread)[1]
    assert [m.content for m in final] == [answer] and final[0].id != drafts[0].id


async def test_stream_false_in_the_agent_file_answers_unstreamed(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    text = (ROOT / "agents" / "assistant.toml").read_text()
    (agents / "assistant.toml").write_text(text.replace("critic = false\n", "critic = false\nstream = false\n", 1))
    async with running_bot(tmp_path, agents_dir=agents) as h:
        h.model.script(Reply.text("Plain and whole."))
        thread = await ask(h, "hello")
        await h.idle()
        _, final = posted(h, thread)
        assert [(m.content, m.edits) for m in final] == [("Plain and whole.", [])]
        assert "stream" not in h.model.requests[0]
