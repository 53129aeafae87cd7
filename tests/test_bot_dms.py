"""DMs and user installs, end to end: the real bot against the Discord
emulator (commands synced globally, as user installs need) and the OpenAI
fake. A DM is its own conversation with no thread, charged to the member's
personal budget; DMs can be turned off, strangers are turned away, and a
user-installed /ask in a server the bot is not in says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.messages.direct import DMS_OFF, NO_SHARED_SERVER, NOT_IN_THIS_SERVER
from bot.store import Limit, LimitChange, Store
from bot.store.scopes import PERSONAL_SCOPE
from tests.bot_harness import Harness, bot_on, running_bot
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import Channel, Interaction, Message
from tests.fakes.model_servers import FakeOpenAIServer, Reply
from tests.store_helpers import run_info

KEEPER = """
name = "Keeper"
description = "Remembers things."
memory = true
system_prompt = "You remember things for members."
[access]
everyone = true
"""
STAFF_ONLY = """
name = "Staff"
description = "For staff."
system_prompt = "You help staff."
[access]
roles = ["Admin"]
"""


def agents(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir(exist_ok=True)
    (folder / "assistant.toml").write_text(KEEPER)
    (folder / "staff.toml").write_text(STAFF_ONLY)
    return folder


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async with dm_bot(tmp_path) as harness:
        yield harness


def dm_bot(tmp_path: Path, **settings: Any) -> Any:
    """The bot with global commands (no DISCORD_GUILD_IDS), as user installs need."""
    return running_bot(
        tmp_path, discord_guild_ids="", agents_dir=agents(tmp_path), skills_dir=tmp_path / "none", **settings
    )


def clean(h: Harness) -> None:
    assert h.emu.violations == [], h.emu.violations
    assert h.emu.unknown_routes == [], h.emu.unknown_routes


async def bot_says(h: Harness, channel: Channel, count: int) -> list[Message]:
    """The bot's first ``count`` messages in ``channel`` that everyone there sees (not ephemeral ones)."""

    def seen() -> list[Message] | None:
        found = [m for m in h.emu.messages_in(channel) if m.author.id == h.emu.bot_user.id and not m.ephemeral]
        return found if len(found) >= count else None

    return await h.emu.wait_for(seen, timeout=10)


async def ephemeral_reply(h: Harness, interaction: Interaction) -> str:
    """The text of the interaction's (ephemeral) answer, once it is final."""

    def final() -> Message | None:
        if interaction.original_message_id is None:
            return None
        message = h.emu.message(interaction.original_message_id)
        return None if message.loading else message

    message = await h.emu.wait_for(final)
    assert message.ephemeral
    return message.content


async def test_a_dm_is_its_own_conversation_on_the_personal_budget(h: Harness) -> None:
    member = h.emu.member
    dm = h.emu.dm_channel(member)
    h.model.script(
        Reply.tool_call("remember", {"text": "prefers metric units"}),
        Reply.text("Noted, metric it is."),
        Reply.text("You prefer metric units."),
    )
    await h.emu.post_message("remember that I prefer metric units", user=member, channel=dm)
    await h.idle(1)
    await h.emu.post_message("what do I prefer?", user=member, channel=dm)
    await h.idle(2)
    said = [m.content for m in await bot_says(h, dm, 4)]
    assert said[-1] == "You prefer metric units." and "Noted, metric it is." in said
    assert h.emu.threads == []  # no thread: the DM is the conversation
    follow_up = h.model.requests[-1]["messages"]
    assert any(m["role"] == "user" and m["content"] == "remember that I prefer metric units" for m in follow_up)
    runs = await h.store.runs.recent(PERSONAL_SCOPE)
    assert len(runs) == 2 and {r.caller_id for r in runs} == {str(member.user.id)}
    usage = await h.store.budget.usage(PERSONAL_SCOPE, str(member.user.id))
    assert usage.limits.amount(Limit.RUNS) == 20  # the operator's default, DM_BUDGET_RUNS
    # The memory stays in DMs: the guild sees nothing of it.
    assert [m.content for m in await h.store.memory.recent(PERSONAL_SCOPE, str(member.user.id))] == [
        "prefers metric units"
    ]
    assert await h.store.memory.recent(str(h.emu.guild.id), str(member.user.id)) == []
    clean(h)


async def test_ask_as_a_user_install_in_a_dm_continues_it_and_names_the_agent(h: Harness) -> None:
    synced = {c["name"]: c for c in h.emu.global_commands}
    assert synced["ask"]["integration_types"] == [0, 1] and synced["ask"]["contexts"] == [0, 1]
    member = h.emu.member
    dm = h.emu.dm_channel(member)
    h.model.script(Reply.text("Forty-two."))
    asked = await h.emu.send_slash_command("ask", {"prompt": "the answer?"}, user=member, channel=dm)
    assert "Keeper" in await ephemeral_reply(h, asked)
    await h.idle(1)
    said = [m.content for m in await bot_says(h, dm, 3)]
    assert "asked:" in said[0] and "the answer?" in said[0]
    assert said[-1] == "Forty-two."
    staff = await h.emu.send_slash_command("ask", {"prompt": "hi", "agent": "staff"}, user=member, channel=dm)
    refusal = await ephemeral_reply(h, staff)
    assert "`staff` is not open to everyone" in refusal and "`assistant`" in refusal
    assert len(h.model.requests) == 1
    clean(h)


async def test_a_dm_from_someone_who_shares_no_server_is_turned_away(h: Harness) -> None:
    stranger = h.emu.add_user("eve")
    dm = h.emu.dm_channel(stranger)
    await h.emu.post_message("hello?", user=stranger, channel=dm)
    assert (await bot_says(h, dm, 1))[0].content == NO_SHARED_SERVER
    asked = await h.emu.send_slash_command("ask", {"prompt": "hi"}, user=stranger, channel=dm)
    assert await ephemeral_reply(h, asked) == NO_SHARED_SERVER
    assert h.model.requests == []
    assert await h.store.runs.recent(PERSONAL_SCOPE) == []
    clean(h)


async def test_ask_in_a_server_the_bot_is_not_in_says_so(h: Harness) -> None:
    elsewhere = h.emu.outside_guild_channel()
    asked = await h.emu.send_slash_command("ask", {"prompt": "hi"}, user=h.emu.member, channel=elsewhere)
    assert await ephemeral_reply(h, asked) == NOT_IN_THIS_SERVER
    assert h.model.requests == [] and h.emu.threads == []
    clean(h)


async def test_dms_turned_off_get_a_clear_reply(tmp_path: Path) -> None:
    async with dm_bot(tmp_path, dm_enabled=False) as h:
        dm = h.emu.dm_channel(h.emu.member)
        await h.emu.post_message("hello", user=h.emu.member, channel=dm)
        assert (await bot_says(h, dm, 1))[0].content == DMS_OFF
        asked = await h.emu.send_slash_command("ask", {"prompt": "hi"}, user=h.emu.member, channel=dm)
        assert await ephemeral_reply(h, asked) == DMS_OFF
        assert h.model.requests == []
        clean(h)


async def test_the_personal_budget_is_the_operators_not_a_guilds(tmp_path: Path) -> None:
    async with dm_bot(tmp_path, dm_budget_runs=1) as h:
        member, dm = h.emu.member, h.emu.dm_channel(h.emu.member)
        # A guild admin's generous limits for the member do not reach DMs.
        await h.store.budget.set_limits(str(h.emu.guild.id), str(member.user.id), [LimitChange(Limit.RUNS, 100)])
        h.model.script(Reply.text("first"), Reply.text("never sent"))
        await h.emu.post_message("one", user=member, channel=dm)
        await h.idle(1)
        await h.emu.post_message("two", user=member, channel=dm)
        await h.idle(2)
        said = [m.content for m in await bot_says(h, dm, 4)]
        assert any("You have used 1 of 1 runs in DMs this day" in text for text in said), said
        assert len(h.model.requests) == 1
        # /usage in the DM shows the personal budget, not the guild's.
        usage = await h.emu.send_slash_command("usage", user=member, channel=dm)
        shown = await ephemeral_reply(h, usage)
        assert "runs: 1 per day" in shown and "100" not in shown
        clean(h)


async def test_a_dm_run_cut_off_by_a_dead_process_is_announced_in_the_dm(tmp_path: Path) -> None:
    """A run left running by a process that died is told in its DM at the
    next start, as a thread's is, its progress message finished and the
    draft of its answer withdrawn."""
    settings: dict[str, Any] = {"discord_guild_ids": "", "agents_dir": agents(tmp_path), "skills_dir": tmp_path / "none"}
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        with emu.patch_discord():
            dm = emu.dm_channel(emu.member)
            model.script(Reply.text("hello"))
            async with bot_on(tmp_path, emu, model, **settings) as first:
                await emu.post_message("hi", user=emu.member, channel=dm)
                await first.idle(1)
                progress = next(m for m in emu.messages_in(dm) if "run `" in m.content)
                draft = await first.bot.get_partial_messageable(dm.id).send("A half-writt")
            # A process that dies mid-run leaves it running, its progress message
            # showing it working and the draft of its streamed answer half-written.
            cut = replace(run_info("cut", caller=str(emu.member.user.id), guild=PERSONAL_SCOPE), channel_id=str(dm.id))
            async with Store(f"sqlite:///{tmp_path / 'bot.db'}", executor_id="gone") as dead:
                with dead.audit.progress_shown("cut", str(progress.id)):
                    await dead.audit.start_run(cut)
                await dead.audit.draft_shown("cut", str(draft.id))
            async with bot_on(tmp_path, emu, model, **settings) as second:
                note = await emu.wait_for(
                    lambda: next((m for m in emu.messages_in(dm) if "cut off when the bot stopped" in m.content), None)
                )
                assert "`cut`" in note.content
                await emu.wait_for(lambda: "interrupted" in emu.message(progress.id).content or None)
                assert emu.message(draft.id).deleted  # withdrawn: it is no answer
                clean(second)


async def test_dms_written_while_the_bot_was_down_are_taken_up_at_the_next_start(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"discord_guild_ids": "", "agents_dir": agents(tmp_path), "skills_dir": tmp_path / "none"}
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        with emu.patch_discord():
            dm = emu.dm_channel(emu.member)
            model.script(Reply.text("hello"), Reply.text("yes, back now"))
            async with bot_on(tmp_path, emu, model, **settings) as first:
                await emu.post_message("hi", user=emu.member, channel=dm)
                await first.idle(1)
            await emu.post_message("are you there?", user=emu.member, channel=dm)  # the bot is down
            async with bot_on(tmp_path, emu, model, **settings) as second:
                await second.idle(1)
                said = [m.content for m in await bot_says(second, dm, 4)]
                assert said[-1] == "yes, back now"
                assert len(model.requests) == 2  # "hi" was not answered again
                clean(second)
