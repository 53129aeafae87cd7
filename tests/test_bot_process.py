"""``python -m bot`` as a real process: it finds the emulator through
DISCORD_API_BASE alone, SIGTERM ends running runs as ``cancelled``, and a
run cut off by SIGKILL is reported interrupted in its thread at the next
start when RUNS_DURABLE is off (test_bot_resume_process.py: on, it resumes)."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from bot.store import Store
from tests.fakes.bot_env import START, start_bot, terminate
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.model_servers import FakeOpenAIServer, Reply


async def test_sigterm_cancels_running_runs_and_exits_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        model.script(Reply.text("never arrives", delay=60))
        proc = await start_bot(tmp_path, db, emu, model)
        try:
            await emu.send_slash_command("ask", {"prompt": "slow question"}, user=emu.member)
            await emu.wait_for(lambda: model.requests, timeout=30)
        finally:
            log = await terminate(proc)
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


async def test_without_durable_runs_a_run_cut_off_by_sigkill_is_reported_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        model.script(Reply.text("never arrives", delay=60))  # the model hangs: the run is mid-way
        first = await start_bot(tmp_path, db, emu, model, RUNS_DURABLE="false")
        try:
            await emu.send_slash_command("ask", {"prompt": "slow question"}, user=emu.member)
            await emu.wait_for(lambda: model.requests, timeout=START)
        finally:
            first.kill()  # SIGKILL: no shutdown, nothing finished
            await first.communicate()
        assert first.returncode == -signal.SIGKILL
        thread = emu.threads[-1]
        progress = next(m for m in emu.messages_in(thread) if "run `" in m.content)
        run_id = progress.content.rsplit("run `", 1)[1].split("`")[0]
        # Left "starting" or "working · step 1 of 12", with its Cancel button.
        assert "**Assistant** is " in progress.content and progress.custom_ids

        second = await start_bot(tmp_path, db, emu, model, RUNS_DURABLE="false")
        try:
            note = await emu.wait_for(
                lambda: next((m for m in emu.messages_in(thread) if "cut off when the bot stopped" in m.content), None),
                timeout=START,
            )
            await emu.wait_for(lambda: "interrupted" in emu.message(progress.id).content or None, timeout=START)
        finally:
            out = await terminate(second)
        assert second.returncode == 0, out
        assert "Ask again here" in note.content and run_id in note.content
        finished = emu.message(progress.id)
        assert finished.content.startswith(
            "⚠️ **Assistant** interrupted · the bot stopped before this run finished; ask again"
        )
        assert finished.components == []  # no Cancel button on a run that is over
        assert emu.violations == []
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT status, notice_pending FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    assert row == ("interrupted", 0)  # told once: the next start has nothing left to say
