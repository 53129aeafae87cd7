"""A durable run survives its process: ``python -m bot`` SIGKILLed mid-run
and started again resumes the run in its thread, on SQLite and on
PostgreSQL. The model call whose response was recorded is not made again,
the tool that had returned does not run again, the run keeps its id and is
charged once, its progress message says it resumed, and the half-written
draft of its streamed answer is withdrawn.

The console (``python -m bot chat``) on the same database runs its own runs
beside it and disturbs neither the bot's live run nor, once the bot is
dead, the run it will resume."""

from __future__ import annotations

import signal
import asyncio
import sys
from pathlib import Path

from tests.databases import DatabaseUnderTest
from tests.fakes.bot_env import START, bot_environment, start_bot, terminate
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.model_servers import FakeOpenAIServer, Reply


async def console(tmp_path: Path, model: FakeOpenAIServer, database_url: str, prompt: str) -> str:
    """``python -m bot chat PROMPT`` on the bot's database; its answer."""
    env = bot_environment(
        tmp_path / "unused.db",
        DATABASE_URL=database_url,
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=model.base_url,
        ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        MODEL_MAX_RETRIES="0",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "chat", prompt, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), START)
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


def bot_run(database: DatabaseUnderTest) -> list[tuple[object, ...]]:
    """The bot's run: status, owner, and whether its reservation stands."""
    return database.rows(
        "SELECT r.status, r.owner_id, COUNT(b.run_id) FROM runs r LEFT JOIN budget_reservations b"
        " ON b.run_id = r.run_id WHERE r.owner_id = 'bot-1' GROUP BY r.run_id, r.status, r.owner_id"
    )


async def test_a_run_killed_mid_way_resumes_when_its_process_starts_again(
    tmp_path: Path, database: DatabaseUnderTest
) -> None:
    # A stable EXECUTOR_ID, as a deployment sets it; on PostgreSQL a short
    # lease, so the restarted process need not wait 20 s for its old one.
    settings = {"DATABASE_URL": database.url, "EXECUTOR_ID": "bot-1", "LEASE_SECONDS": "2"}
    db = tmp_path / "unused.db"
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        model.script(
            Reply.tool_call("calculator", {"expression": "6*7"}),
            # The second call streams a few words and hangs: the run is mid-way, its answer half-written.
            Reply.text("A half-written answer that never ends.", hold_after=4),
        )
        first = await start_bot(tmp_path, db, emu, model, **settings)
        try:
            await emu.send_slash_command("ask", {"prompt": "What is 6 times 7?"}, user=emu.member)
            draft = await emu.wait_for(
                lambda: next((m for m in emu.messages if m.content.startswith("A half")), None), timeout=START
            )
            model.script(Reply.text("The console's answer."))
            assert await console(tmp_path, model, database.url, "a console question") == "The console's answer."
            assert bot_run(database) == [("running", "bot-1", 1)]  # the bot's live run: untouched
        finally:
            first.kill()  # SIGKILL: nothing finished, nothing flushed on the way out
            await first.communicate()
        assert first.returncode == -signal.SIGKILL
        thread = emu.threads[-1]
        progress = next(m for m in emu.messages_in(thread) if "run `" in m.content)
        run_id = progress.content.rsplit("run `", 1)[1].split("`")[0]

        database.wait_until_gone("bot-1")
        model.script(Reply.text("The console again."), Reply.text("6 times 7 is 42."))
        assert await console(tmp_path, model, database.url, "another console question") == "The console again."
        assert bot_run(database) == [("running", "bot-1", 1)]  # left for the bot to resume
        second = await start_bot(tmp_path, db, emu, model, **settings)
        try:
            answer = await emu.wait_for(
                lambda: next((m for m in emu.messages_in(thread) if m.content == "6 times 7 is 42."), None),
                timeout=START,
            )
            await emu.wait_for(lambda: emu.message(progress.id).content.startswith("✅") or None, timeout=START)
        finally:
            out = await terminate(second)
        assert second.returncode == 0, out
        assert "sk-test" not in out and emu.token not in out
        # The bot's three model calls (and the console's two): the recorded tool call was not asked for again.
        assert len(model.requests) == 5
        resumed_prompt = model.requests[4]["messages"]
        assert [m["role"] for m in resumed_prompt[-3:]] == ["user", "assistant", "tool"]
        assert resumed_prompt[-1]["content"] == "6*7 = 42"  # the recorded result
        # The progress message was kept, said it resumed, and ends with the run.
        finished = emu.message(progress.id)
        assert any("resumed after a restart" in e.content for e in finished.edits[:-1])  # while it worked
        assert "resumed after a restart" in finished.content and run_id in finished.content
        assert finished.components == []
        assert answer.id > progress.id
        assert emu.message(draft.id).deleted  # the half-written draft was withdrawn, not left as if an answer
        assert emu.violations == []

    assert database.rows("SELECT status, owner_id FROM runs WHERE run_id = ?", run_id) == [("ok", "bot-1")]
    assert database.rows("SELECT COUNT(*) FROM tool_calls WHERE run_id = ?", run_id) == [(1,)]  # ran once
    assert database.rows("SELECT COUNT(*) FROM runs WHERE owner_id = 'bot-1'") == [(1,)]  # the same run, not a new one
    assert database.rows("SELECT status, COUNT(*) FROM runs GROUP BY status") == [("ok", 3)]  # the console's two too
    # Charged once, with every model call's tokens (the recorded one included).
    [(ledger_rows, ledger_tokens)] = database.rows(
        "SELECT COUNT(*), SUM(input_tokens + output_tokens) FROM budget_ledger WHERE run_id = ?", run_id
    )
    [(run_tokens,)] = database.rows("SELECT input_tokens + output_tokens FROM runs WHERE run_id = ?", run_id)
    assert ledger_rows == 1 and ledger_tokens == run_tokens > 0
    assert database.rows("SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    assert database.rows("SELECT COUNT(*) FROM events WHERE run_id = ? AND kind = 'run_resumed'", run_id) == [(1,)]
