"""``python -m bot`` as a real process: it finds the emulator through
DISCORD_API_BASE alone, and SIGTERM ends running runs as ``cancelled``."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from bot.store import Store
from tests.fakes.bot_env import bot_environment
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.model_servers import FakeOpenAIServer, Reply


async def test_sigterm_cancels_running_runs_and_exits_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        model.script(Reply.text("never arrives", delay=60))
        env = bot_environment(
            db,
            DISCORD_TOKEN=emu.token,
            DISCORD_API_BASE=emu.api_base,
            DISCORD_GUILD_IDS=str(emu.guild.id),
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL=model.base_url,
            MODEL_MAX_RETRIES="0",
            LOG_LEVEL="DEBUG",  # the chattiest the bot gets: still no secret in it
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            await emu.wait_until_ready(timeout=30)
            await emu.wait_for(lambda: emu.guild_commands.get(emu.guild.id), timeout=30)
            await emu.send_slash_command("ask", {"prompt": "slow question"}, user=emu.member)
            await emu.wait_for(lambda: model.requests, timeout=30)
            proc.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        log = out.decode()
        assert proc.returncode == 0, log
        assert "sk-test" not in log and emu.token not in log
        assert "voice will NOT be supported" not in log  # the bot uses no voice; no warning about it
        thread = emu.threads[-1]
        texts = [m.content for m in emu.messages_in(thread)]
        assert any("shutting down" in t for t in texts), texts
        assert emu.violations == []
    async with Store(f"sqlite:///{db}") as store:
        assert store.recovery.interrupted_runs == 0  # nothing was left running
        runs = await store.runs.recent(str(emu.guild.id))
        assert [r.status for r in runs] == ["cancelled"]
        usage = await store.budget.usage(str(emu.guild.id), str(emu.member.user.id))
        assert usage.running == 0 and usage.periods[next(iter(usage.periods))].spent.runs == 1
