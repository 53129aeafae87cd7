"""/executus status through the real bot, against the Discord emulator."""

from __future__ import annotations

from pathlib import Path

from bot.discord_host.status import version
from tests.bot_harness import Harness, running_bot
from tests.fakes.model_servers import Reply


async def status_of(h: Harness, user: object) -> str:
    inter = await h.emu.send_slash_command("executus status", {}, user=user)
    return await h.emu.wait_for(
        lambda: inter.original_message_id and h.emu.message(inter.original_message_id).content
    )


async def test_status_shows_version_uptime_shards_runs_database_and_providers(tmp_path: Path) -> None:
    async with running_bot(tmp_path, anthropic_api_key=None, model_tiers="fast=openai/fake-fast,deep=anthropic/claude-x") as h:
        manager = h.emu.add_member("dana", manage_guild=True)
        text = await status_of(h, manager)
        assert text.startswith(f"**executus {version()}** · up 0 min")
        assert "Shards: 0 (" in text and "of 1" in text
        assert "Runs: 0 in flight, 0 queued" in text
        assert "Database (sqlite): ✅ reachable" in text
        assert "⚪ **openai** (fast): no call yet" in text
        assert "❌ **anthropic** (deep): no API key; set ANTHROPIC_API_KEY" in text

        h.model.script(Reply.text("hi"), Reply.error(503, "overloaded"))
        for done, prompt in enumerate(("hello", "again"), start=1):
            await h.emu.send_slash_command("ask", {"prompt": prompt}, user=h.emu.member)
            await h.idle(runs=done)
        text = await status_of(h, manager)
        assert "⚠️ **openai** (fast): last call failed <t:" in text
        assert "(ProviderUnavailableError); 1 ok, 1 failed" in text
        assert "sk-test" not in text and "127.0.0.1" not in text

        refused = await h.emu.send_slash_command("executus status", {}, user=h.emu.member)
        await h.emu.wait_for(lambda: refused.acknowledged)
        assert "Manage Server" in refused.callbacks[0].body["data"]["content"]
        synced = {c["name"]: c for c in h.emu.guild_commands[h.emu.guild.id]}
        assert int(synced["executus"]["default_member_permissions"]) & (1 << 5)
