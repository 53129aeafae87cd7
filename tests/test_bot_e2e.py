"""End to end: the real bot against the Discord emulator and the OpenAI fake."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.agents import Access
from bot.discord_host.progress import CancelButton
from bot.splitting import DISCORD_LIMIT
from bot.store import Limit, LimitChange, Limits, Period, Setting
from tests.bot_harness import Harness, bot_on, running_bot, thread_of_a_past_run
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.model_servers import FakeOpenAIServer, Reply

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
DEFERRED = 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
PUBLIC_THREAD = 11


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_bot(tmp_path) as harness:
        yield harness
        assert harness.emu.violations == [], harness.emu.violations
        assert harness.emu.unknown_routes == [], harness.emu.unknown_routes


def user_texts(request: dict[str, Any]) -> list[str]:
    out = []
    for m in request["messages"]:
        content = m.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(part.get("text", "") for part in content if part.get("type") == "text")
    return out


async def test_ask_defers_opens_public_thread_shows_progress_and_answers_with_artifact(h: Harness) -> None:
    h.model.script(
        Reply.tool_call("calculator", {"expression": "6*7"}),
        Reply.tool_call("write_file", {"filename": "answer.md", "content": "# 42"}),
        Reply.text("The answer is **42**; details in answer.md."),
    )
    inter = await h.emu.send_slash_command("ask", {"prompt": "What is 6 times 7?"}, user=h.emu.member)
    await h.emu.wait_for(lambda: inter.acknowledged)
    assert inter.callbacks[0].type == DEFERRED  # acknowledged first, inside Discord's deadline
    thread = await h.thread_of()
    assert thread.type == PUBLIC_THREAD and thread.name == "What is 6 times 7?"
    await h.idle()
    msgs = await h.bot_messages(thread, 3)
    progress = next(m for m in msgs if "run `" in m.content and m.edits)
    assert "ok" in progress.content and "2 tool calls" in progress.content
    assert progress.components == []  # the Cancel button is gone at the end
    answer = msgs[-1]
    assert answer.content == "The answer is **42**; details in answer.md."
    assert [(a.filename, a.data) for a in answer.attachments] == [("answer.md", b"# 42")]
    original = h.emu.message(inter.original_message_id) if inter.original_message_id else None
    assert original is not None and str(thread.id) in original.content
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    assert (run.status, run.tool_calls, run.caller_id) == ("ok", 2, str(h.emu.member.id))


async def test_follow_up_in_thread_sees_the_earlier_turn(h: Harness) -> None:
    h.model.script(Reply.text("Paris is the capital."), Reply.text("About two million people."))
    await h.emu.send_slash_command("ask", {"prompt": "Capital of France?"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.bot_messages(thread, 3)
    await h.idle()
    await h.emu.post_message("And its population?", user=h.emu.member, channel=thread)
    await h.emu.wait_for(lambda: len(h.model.requests) >= 2)
    await h.idle(2)
    texts = user_texts(h.model.requests[1])
    assert "Capital of France?" in texts and "Paris is the capital." in texts and texts[-1] == "And its population?"
    answers = [m.content for m in h.emu.messages_in(thread) if m.author.id == h.emu.bot_user.id]
    assert "About two million people." in answers


async def test_other_members_cannot_continue_a_thread_until_it_is_opened(h: Harness) -> None:
    h.model.script(Reply.text("first"), Reply.text("second"))
    await h.emu.send_slash_command("ask", {"prompt": "hello"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    await h.bot_messages(thread, 3)
    stranger = h.emu.add_member("carol")
    await h.emu.post_message("me too", user=stranger, channel=thread)
    refusal = await h.emu.wait_for(
        lambda: next((m for m in h.emu.messages_in(thread) if "can continue this conversation" in m.content), None)
    )
    assert "/thread open" in refusal.content and len(h.model.requests) == 1
    opened = await h.emu.send_slash_command("thread open", user=h.emu.admin, channel=thread)
    await h.emu.wait_for(lambda: opened.acknowledged)
    await h.emu.post_message("me too, now", user=stranger, channel=thread)
    await h.emu.wait_for(lambda: len(h.model.requests) == 2)


async def test_image_attachment_reaches_the_model(h: Harness) -> None:
    h.model.script(Reply.text("A single pixel."))
    upload = h.emu.upload("pixel.png", PNG, "image/png")
    await h.emu.send_slash_command("ask", {"prompt": "What is in this image?", "image": upload}, user=h.emu.member)
    await h.emu.wait_for(lambda: h.model.requests)
    await h.idle()
    last = h.model.requests[0]["messages"][-1]
    urls = [p["image_url"]["url"] for p in last["content"] if p.get("type") == "image_url"]
    assert urls == ["data:image/png;base64," + base64.b64encode(PNG).decode()]


async def test_follow_up_image_attachment_reaches_the_model(h: Harness) -> None:
    h.model.script(Reply.text("ok"), Reply.text("a pixel"))
    await h.emu.send_slash_command("ask", {"prompt": "hi"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    await h.bot_messages(thread, 3)
    await h.emu.post_message(
        "and this?", user=h.emu.member, channel=thread, attachments=[h.emu.upload("p.png", PNG, "image/png")]
    )
    await h.emu.wait_for(lambda: len(h.model.requests) == 2)
    parts = h.model.requests[1]["messages"][-1]["content"]
    assert any(p.get("type") == "image_url" for p in parts)


async def test_long_answer_is_split_in_order_with_code_fences_intact(h: Harness) -> None:
    code = "\n".join(f"print({i})  # line {i:03d}" for i in range(400))
    long = "Intro paragraph.\n\n```python\n" + code + "\n```\n\nOutro paragraph " + "x" * 300
    assert len(long) > 5000
    h.model.script(Reply.text(long))
    await h.emu.send_slash_command("ask", {"prompt": "long please"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    msgs = [m for m in h.emu.messages_in(thread) if m.author.id == h.emu.bot_user.id][2:]
    assert len(msgs) >= 3 and all(len(m.content) <= DISCORD_LIMIT for m in msgs)
    assert all(m.content.count("```") % 2 == 0 for m in msgs)
    rebuilt = "\n".join(m.content for m in msgs)
    lines = [ln for ln in rebuilt.splitlines() if ln.startswith("print(")]
    assert lines == code.splitlines()  # every line, once, in order
    assert msgs[0].content.startswith("Intro paragraph.") and msgs[-1].content.rstrip().endswith("x" * 300)


async def test_everyone_in_model_output_pings_nobody(h: Harness) -> None:
    role = h.emu.manager_role
    h.model.script(Reply.text(f"@everyone look! <@&{role.id}> and <@{h.emu.admin.user.id}>"))
    await h.emu.send_slash_command("ask", {"prompt": "ping them"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    answer = (await h.bot_messages(thread, 3))[-1]
    assert answer.content.startswith("@everyone")
    assert answer.allowed_mentions is not None and answer.allowed_mentions.get("parse") == []
    assert not answer.mention_everyone and answer.mention_role_ids == [] and answer.mentions == []


async def test_cancel_button_ends_the_run_as_cancelled(h: Harness) -> None:
    h.model.script(Reply.text("too late", delay=30))
    await h.emu.send_slash_command("ask", {"prompt": "take your time"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.emu.wait_for(lambda: h.model.requests)
    progress = (await h.bot_messages(thread, 2))[1]
    button = next(c["custom_id"] for row in progress.components for c in row["components"])
    assert button.startswith("executus:cancel:")
    click = await h.emu.click_button(progress, button, user=h.emu.member)
    await h.emu.wait_for(lambda: click.acknowledged)
    await h.idle()
    run_id = button.rsplit(":", 1)[1]
    detail = await h.store.runs.detail(run_id)
    assert detail is not None and detail.run.status == "cancelled"
    texts = [m.content for m in h.emu.messages_in(thread)]
    assert any("cancelled" in t and run_id in t for t in texts)


def _has_cancel_button(body: Any) -> bool:
    return isinstance(body, dict) and "executus:cancel:" in json.dumps(body.get("components"))


async def test_cancel_clicked_before_discord_confirms_the_progress_message_still_cancels(h: Harness) -> None:
    # Discord shows the button as soon as it creates the message; a member can
    # click before the bot has even heard back that it was posted.
    h.model.script(Reply.text("should never be asked"))
    shown = h.emu.hold_response("create_message", _has_cancel_button)
    await h.emu.send_slash_command("ask", {"prompt": "never mind"}, user=h.emu.member)
    await asyncio.wait_for(shown.reached.wait(), 10)
    thread = await h.thread_of()
    progress = next(m for m in h.emu.messages_in(thread) if _has_cancel_button({"components": m.components}))
    button = next(c["custom_id"] for row in progress.components for c in row["components"])
    click = await h.emu.click_button(progress, button, user=h.emu.member)
    await h.emu.wait_for(lambda: click.acknowledged)
    shown.release()
    await h.idle()
    run_id = button.rsplit(":", 1)[1]
    assert "Cancelling" in click.callbacks[0].body["data"]["content"]
    detail = await h.store.runs.detail(run_id)
    assert detail is not None and detail.run.status == "cancelled"
    assert h.model.requests == []


async def test_someone_else_cannot_press_cancel(h: Harness) -> None:
    h.model.script(Reply.text("done", delay=3))
    await h.emu.send_slash_command("ask", {"prompt": "wait"}, user=h.emu.member)
    thread = await h.thread_of()
    progress = (await h.bot_messages(thread, 2))[1]
    button = next(c["custom_id"] for row in progress.components for c in row["components"])
    stranger = h.emu.add_member("mallory")
    click = await h.emu.click_button(progress, button, user=stranger)
    await h.emu.wait_for(lambda: click.acknowledged)
    assert "Only the member who started" in click.callbacks[0].body["data"]["content"]
    await h.idle()
    assert (await h.store.runs.recent(str(h.emu.guild.id)))[0].status == "ok"


async def test_member_over_budget_is_refused_and_the_model_never_called(h: Harness) -> None:
    await h.store.budget.set_limits(str(h.emu.guild.id), str(h.emu.member.user.id), [LimitChange(Limit.RUNS, 0)])
    await h.emu.send_slash_command("ask", {"prompt": "anything"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    msgs = await h.bot_messages(thread, 3)
    assert any("⛔ Your limit here is 0 runs per day" in m.content for m in msgs)
    assert h.model.requests == []
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    assert (run.status, run.input) == ("rejected", "anything")  # recorded for admins
    listed = await h.emu.send_slash_command("runs", {}, user=h.emu.member)
    await h.emu.wait_for(lambda: listed.acknowledged)
    assert listed.callbacks[0].body["data"]["content"].startswith(f"⛔ `{run.run_id}` **assistant** rejected")


async def test_budget_set_needs_manage_server(h: Harness) -> None:
    inter = await h.emu.send_slash_command("budget set", {"member": h.emu.member, "runs": 5}, user=h.emu.member)
    await h.emu.wait_for(lambda: inter.acknowledged)
    assert "Manage Server" in inter.callbacks[0].body["data"]["content"]
    limits = await h.store.budget.get_limits(str(h.emu.guild.id), str(h.emu.member.user.id))
    assert limits.amount(Limit.RUNS) is None
    synced = {c["name"]: c for c in h.emu.guild_commands[h.emu.guild.id]}
    assert int(synced["budget"]["default_member_permissions"]) & (1 << 5)  # hidden from non-managers too


async def test_manager_sets_a_budget_and_bad_values_get_a_clear_message(h: Harness) -> None:
    manager = h.emu.add_member("dana", manage_guild=True)
    ok = await h.emu.send_slash_command(
        "budget set", {"member": h.emu.member, "runs": 5, "period": "week"}, user=manager
    )
    await h.emu.wait_for(lambda: ok.acknowledged)
    limits = await h.store.budget.get_limits(str(h.emu.guild.id), str(h.emu.member.user.id))
    assert limits.setting(Limit.RUNS) == Setting(5, Period.WEEK)
    bad = await h.emu.send_slash_command("budget set", {"member": h.emu.member, "tokens": -3}, user=manager)
    await h.emu.wait_for(lambda: bad.acknowledged)
    text = bad.callbacks[0].body["data"]["content"]
    assert "negative" in text and "Nothing changed" in text
    cleared = await h.emu.send_slash_command("budget set", {"member": h.emu.member, "clear": "runs"}, user=manager)
    await h.emu.wait_for(lambda: cleared.acknowledged)
    limits = await h.store.budget.get_limits(str(h.emu.guild.id), str(h.emu.member.user.id))
    assert limits == Limits()


async def test_budget_values_beyond_the_maximum_are_refused_clearly(h: Harness) -> None:
    manager = h.emu.add_member("dana", manage_guild=True)
    synced = next(c for c in h.emu.guild_commands[h.emu.guild.id] if c["name"] == "budget")
    set_options = next(o for o in synced["options"] if o["name"] == "set")["options"]
    assert {o["name"]: o.get("max_value") for o in set_options if o["name"] in ("runs", "runtime", "usd")} == {
        "runs": 1_000_000_000_000,
        "runtime": 1_000_000_000_000,
        "usd": 1_000_000,  # dollars, kept as micro-dollars
    }
    clear = next(o for o in set_options if o["name"] == "clear")
    assert [c["value"] for c in clear["choices"]] == ["runs", "tokens", "runtime", "concurrent", "usd"]
    for options, most in (({"tokens": 2**63}, "1,000,000,000,000"), ({"runtime": 1e300}, "1,000,000,000,000"),
                          ({"usd": 1e7}, "1,000,000 (got 10,000,000")):  # fmt: skip
        bad = await h.emu.send_slash_command("budget set", {"member": h.emu.member, **options}, user=manager)
        await h.emu.wait_for(lambda: bad.acknowledged)
        text = bad.callbacks[0].body["data"]["content"]
        assert text.startswith(f"⚠️ Nothing changed: {next(iter(options))} can be at most {most}"), text
    limits = await h.store.budget.get_limits(str(h.emu.guild.id), str(h.emu.member.user.id))
    assert limits == Limits()


async def test_model_outage_gives_a_readable_error_in_the_thread(h: Harness) -> None:
    h.model.script(Reply.error(503, "overloaded"))
    await h.emu.send_slash_command("ask", {"prompt": "hello?"}, user=h.emu.member)
    thread = await h.thread_of()
    await h.idle()
    msgs = await h.bot_messages(thread, 3)
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    error = msgs[-1].content
    assert "not answering" in error and run.run_id in error and "sk-test" not in error
    assert run.status == "error"


async def test_mention_in_a_channel_starts_a_thread(h: Harness) -> None:
    h.model.script(Reply.text("hi there"))
    await h.emu.post_message(f"<@{h.emu.bot_user.id}> say hi", user=h.emu.member, channel=h.emu.general)
    thread = await h.thread_of()
    await h.idle()
    assert user_texts(h.model.requests[0])[-1] == "say hi"
    assert (await h.bot_messages(thread, 2))[-1].content == "hi there"


async def test_runs_usage_and_agents_commands_answer(h: Harness) -> None:
    h.model.script(Reply.text("done"))
    await h.emu.send_slash_command("ask", {"prompt": "hi"}, user=h.emu.member)
    await h.thread_of()
    await h.idle()
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    replies = {}
    for name, options in [("runs", {}), ("usage", {}), ("agents", {}), ("run", {"run_id": run.run_id})]:
        inter = await h.emu.send_slash_command(name, options, user=h.emu.member)
        await h.emu.wait_for(lambda: inter.acknowledged)
        replies[name] = inter.callbacks[0].body["data"]["content"]
    assert run.run_id in replies["runs"] and run.run_id in replies["run"]
    assert "this day: 1 runs" in replies["usage"]
    assert "assistant" in replies["agents"]
    other = await h.emu.send_slash_command("runs", {"member": h.emu.admin}, user=h.emu.member)
    await h.emu.wait_for(lambda: other.acknowledged)
    assert "Manage Server" in other.callbacks[0].body["data"]["content"]


def test_cancel_button_custom_id_round_trips() -> None:
    button = CancelButton("abc123")
    assert button.item.custom_id == "executus:cancel:abc123"
    assert json.dumps(button.item.to_component_dict())


async def test_unknown_agent_gets_a_clear_refusal(h: Harness) -> None:
    unknown = await h.emu.send_slash_command("ask", {"prompt": "hi", "agent": "nope"}, user=h.emu.member)
    text = await h.emu.wait_for(lambda: unknown.original_message_id and h.emu.message(unknown.original_message_id).content)
    assert "no agent called `nope`" in text and "`assistant`" in text
    assert h.emu.threads == [] and h.model.requests == []


async def test_agent_limited_to_a_role_refuses_other_members(h: Harness) -> None:
    agent = h.services.agents.agents["assistant"]
    h.services.agents.agents["assistant"] = replace(agent, access=Access(roles=frozenset({"vip"})))
    inter = await h.emu.send_slash_command("ask", {"prompt": "hi"}, user=h.emu.member)
    text = await h.emu.wait_for(lambda: inter.original_message_id and h.emu.message(inter.original_message_id).content)
    assert "not allowed to run `assistant`" in text and h.model.requests == []


async def test_messages_posted_while_the_bot_was_down_are_taken_up_at_start(tmp_path: Path) -> None:
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        with emu.patch_discord():
            model.script(Reply.text("Paris."))
            thread = await thread_of_a_past_run(tmp_path, emu, model, "Capital of France?")
            # the bot is down: these arrive in the thread, not at the bot
            model.script(Reply.text("About Spain: Madrid."), Reply.text("About Italy: Rome."))
            await emu.post_message("And of Spain?", user=emu.member, channel=thread)
            await emu.post_message("And of Italy?", user=emu.member, channel=thread)
            async with bot_on(tmp_path, emu, model) as second:
                await second.idle(2)
                texts = [user_texts(r)[-1] for r in model.requests]
                assert texts == ["Capital of France?", "And of Spain?", "And of Italy?"]
                answers = [m.content for m in emu.messages_in(thread) if m.author.id == emu.bot_user.id]
                assert "About Spain: Madrid." in answers and "About Italy: Rome." in answers
            async with bot_on(tmp_path, emu, model) as third:  # nothing left to take up
                await asyncio.sleep(0.5)
                assert len(model.requests) == 3 and third.bot.runner.completed == 0
