"""Approval gates end to end: a gated call posts Approve and Deny in the
run's thread (the Discord emulator) and waits; only members with the named
role, or Manage Server, decide; a denial or a timeout is the tool's result.
Gated here: an MCP tool (the fake server as a process) and a built-in one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.approvals import Approvals, Pending
from bot.store.scopes import PERSONAL_SCOPE
from executor import ApprovalDecision, ApprovalRequest
from tests.bot_harness import Harness, bot_on
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import Channel, Member, Message
from tests.fakes.model_servers import FakeOpenAIServer, Reply
from tests.mcp_kit import tool_results, world, write_agent, write_stdio_server

__all__ = ["world"]  # the fixture

GATED = 'mcp = { fake = ["echo"] }\napprove = { tools = ["fake__echo", "calculator"], by = ["role:Moderators"], timeout = 60 }'
HASTY = 'approve = { tools = ["calculator"], by = ["role:Moderators"], timeout = 1 }'


@pytest.fixture
async def h(world: tuple[DiscordEmulator, FakeOpenAIServer], tmp_path: Path) -> AsyncIterator[Harness]:
    emu, model = world
    mcp, agents = tmp_path / "mcp", tmp_path / "agents"
    write_stdio_server(mcp, "fake")
    write_agent(agents, "gated", ["calculator"], GATED)
    write_agent(agents, "hasty", ["calculator"], HASTY)
    async with bot_on(tmp_path, emu, model, mcp_dir=mcp, agents_dir=agents) as harness:
        yield harness


async def moderator(h: Harness) -> Member:
    role = await h.emu.add_role("Moderators")
    member = h.emu.add_member("mod", roles=[role])
    await h.emu.announce_member(member)
    return member


async def approval_request(h: Harness, agent: str) -> tuple[Channel, Message]:
    await h.emu.send_slash_command("ask", {"prompt": "do it", "agent": agent}, user=h.emu.member)
    thread = await h.thread_of()

    def asked() -> Message | None:
        return next((m for m in h.emu.messages_in(thread) if any("approval" in c for c in m.custom_ids)), None)

    return thread, await h.emu.wait_for(asked, timeout=30)


async def click(h: Harness, message: Message, verdict: str, user: Member) -> str:
    button = next(c for c in message.custom_ids if c.endswith(f":{verdict}"))
    interaction = await h.emu.click_button(message, button, user=user)
    await h.emu.wait_for(lambda: interaction.acknowledged)
    body: dict[str, Any] = interaction.callbacks[0].body
    assert body["data"]["flags"] & 64  # ephemeral: only the clicker sees it
    return str(body["data"]["content"])


async def decisions(h: Harness) -> list[dict[str, Any]]:
    run = (await h.store.runs.recent(str(h.emu.guild.id)))[0]
    detail = await h.store.runs.detail(run.run_id)
    assert detail is not None
    return [e.data for e in detail.events if e.kind == "approval_decided"]


async def test_approved_by_a_moderator_after_a_member_without_the_role_is_refused(h: Harness) -> None:
    mod = await moderator(h)
    h.model.script(Reply.tool_call("fake__echo", {"text": "ship it"}), Reply.text("shipped"))
    thread, asked = await approval_request(h, "gated")
    assert "fake__echo" in asked.content and "ship it" in asked.content and "**Moderators**" in asked.content
    progress = (await h.bot_messages(thread, 2))[1]

    def progress_says(text: str) -> bool | None:
        return text in h.emu.message(progress.id).content or None

    await h.emu.wait_for(lambda: progress_says("waiting for approval of `fake__echo`"))
    refused = await click(h, asked, "yes", h.emu.member)
    assert "Only members with the role **Moderators**" in refused
    assert len(h.model.requests) == 1  # still waiting: the refused click decided nothing
    assert "Approved" in await click(h, asked, "yes", mod)
    await h.idle(timeout=30)
    assert "ship it" in tool_results(h.model.requests[1])[0]
    assert await decisions(h) == [{"tool": "fake__echo", "approved": True, "by": str(mod.user.id), "reason": "approved"}]
    settled = h.emu.message(asked.id)
    assert f"approved by <@{mod.user.id}>" in settled.content and settled.components == []
    assert not progress_says("waiting for approval")


async def test_denied_the_model_is_told_and_the_tool_never_runs(h: Harness) -> None:
    manager = h.emu.add_member("dana", manage_guild=True)  # Manage Server may always decide
    h.model.script(Reply.tool_call("calculator", {"expression": "1234*1000"}), Reply.text("I was not allowed"))
    _, asked = await approval_request(h, "gated")
    assert "Denied" in await click(h, asked, "no", manager)
    await h.idle(timeout=30)
    result = tool_results(h.model.requests[1])[0]
    assert f"calculator was not run: it needs approval and it was denied by {manager.user.id}" in result
    assert "1234000" not in result
    assert await decisions(h) == [{"tool": "calculator", "approved": False, "by": str(manager.user.id), "reason": "denied"}]


async def test_nobody_decides_in_time_the_call_is_not_run_and_the_buttons_go(h: Harness) -> None:
    h.model.script(Reply.tool_call("calculator", {"expression": "6*7"}), Reply.text("nobody answered"))
    _, asked = await approval_request(h, "hasty")
    await h.idle(timeout=30)
    assert "nobody approved it within 1 s" in tool_results(h.model.requests[1])[0]
    assert await decisions(h) == [{"tool": "calculator", "approved": False, "by": "", "reason": "timeout"}]
    settled = h.emu.message(asked.id)
    assert "not decided in time" in settled.content and settled.components == []
    assert (await h.store.runs.recent(str(h.emu.guild.id)))[0].status == "ok"


class RecordingPrompt:
    """A Prompt that records what it was asked to show, and shows nothing."""

    def __init__(self) -> None:
        self.asked: list[Pending] = []

    async def ask(self, pending: Pending) -> None:
        self.asked.append(pending)

    async def settled(self, pending: Pending, decision: ApprovalDecision) -> None:
        pass


async def test_in_direct_messages_nobody_can_approve_so_nobody_is_asked() -> None:
    approvals, prompt = Approvals(), RecordingPrompt()
    approvals.attach(prompt)
    request = ApprovalRequest("run1", "gated", "7", PERSONAL_SCOPE, "dm-1", "c1", "calculator", "{}", ("role:Mods",), 60)
    decision = await approvals.decide(request)
    assert not decision.approved and "direct messages" in decision.reason
    assert prompt.asked == []
