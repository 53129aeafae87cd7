"""A pending approval survives a restart: ``python -m bot`` SIGKILLed while a
gated call waits, started again, resumes the run (durable runs) and asks
again for the same call on the same message, whose buttons still work."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.databases import SQLiteUnderTest
from tests.fakes.bot_env import START, start_bot, terminate
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import Message
from tests.fakes.model_servers import FakeOpenAIServer, Reply
from tests.mcp_kit import write_agent

GATED = 'approve = { tools = ["calculator"], by = ["role:Moderators"], timeout = 120 }'


async def test_a_pending_approval_is_asked_again_on_the_same_message_after_a_restart(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    write_agent(agents, "gated", ["calculator"], GATED)
    database = SQLiteUnderTest(tmp_path / "bot.db")
    settings = {"AGENTS_DIR": str(agents), "EXECUTOR_ID": "bot-1", "DATABASE_URL": database.url}
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        model.script(Reply.tool_call("calculator", {"expression": "6*7"}), Reply.text("6 times 7 is 42."))
        first = await start_bot(tmp_path, tmp_path / "bot.db", emu, model, **settings)
        try:
            await emu.send_slash_command("ask", {"prompt": "6 times 7?", "agent": "gated"}, user=emu.member)
            thread = await emu.wait_for(lambda: emu.threads[-1] if emu.threads else None, timeout=START)

            def asked() -> Message | None:
                return next((m for m in emu.messages_in(thread) if any("approval" in c for c in m.custom_ids)), None)

            request = await emu.wait_for(asked, timeout=START)
        finally:
            first.kill()  # SIGKILL: the call is still waiting for its decision
            await first.communicate()
        assert first.returncode == -signal.SIGKILL
        edits = len(request.edits)
        second = await start_bot(tmp_path, tmp_path / "bot.db", emu, model, **settings)
        try:
            # The resumed run asks again, on the message already in the thread.
            await emu.wait_for(lambda: len(emu.message(request.id).edits) > edits or None, timeout=START)
            button = next(c for c in emu.message(request.id).custom_ids if c.endswith(":yes"))
            click = await emu.click_button(request.id, button, user=emu.admin)
            await emu.wait_for(lambda: click.acknowledged)
            await emu.wait_for(
                lambda: next((m for m in emu.messages_in(thread) if m.content == "6 times 7 is 42."), None), timeout=START
            )
        finally:
            out = await terminate(second)
        assert second.returncode == 0, out
        # One request message in the thread: asked again on it, not posted twice.
        requests = [m.id for m in emu.messages_in(thread) if "`calculator`" in m.content and "run `" in m.content]
        assert requests == [request.id]
        assert f"approved by <@{emu.admin.user.id}>" in emu.message(request.id).content
        assert model.requests[-1]["messages"][-1]["content"] == "6*7 = 42"  # the approved call ran, once
        assert len(model.requests) == 2  # the recorded model call was not made again
        assert emu.violations == []
    assert database.rows("SELECT status FROM runs") == [("ok",)]
