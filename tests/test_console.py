"""``python -m bot chat`` as a real process against the loopback OpenAI fake."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from executor.llm.types import Usage
from tests.fakes.bot_env import bot_environment
from tests.fakes.model_servers import FakeOpenAIServer, Reply
from tests.mcp_kit import tool_results, write_agent, write_stdio_server


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as srv:
        yield srv


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return bot_environment(
        tmp_path / "db.sqlite", ARTIFACTS_DIR=str(tmp_path / "artifacts"), MODEL_MAX_RETRIES="0", **extra
    )


async def chat(tmp_path: Path, *args: str, stdin: str = "", **env: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "chat",
        *args,
        cwd=tmp_path,  # no .env here: only the environment we pass counts
        env=env_for(tmp_path, **env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_one_shot_prints_the_answer_saves_artifacts_and_usage(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script(
        Reply.tool_call("write_file", {"filename": "notes.md", "content": "# Notes"}, usage=Usage(500, 50)),
        Reply.text("Here are your notes.", usage=Usage(input_tokens=1_000, output_tokens=100)),
    )
    code, out, err = await chat(
        tmp_path, "write me notes", OPENAI_BASE_URL=server.base_url, MODEL_PRICES="gpt-4o-mini=10/20"
    )
    assert code == 0, err
    assert out.strip() == "Here are your notes."
    assert "write_file" in err and "ok" in err and "tokens" in err
    # The end-of-run line: at $10/$20 per million tokens, $0.006 then $0.012.
    assert err.rstrip().endswith("· $0.0180")
    saved = list((tmp_path / "artifacts").rglob("notes.md"))
    assert len(saved) == 1 and saved[0].read_text() == "# Notes"
    assert server.requests[0]["messages"][-1] == {"role": "user", "content": "write me notes"}


async def test_failed_run_exits_non_zero(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script(Reply.error(401, "bad key"))
    code, out, err = await chat(tmp_path, "hi", OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-wrong-123")
    assert code == 1 and out == ""
    assert "credentials" in err and "sk-wrong-123" not in err


async def test_no_model_configured_names_the_variable(tmp_path: Path) -> None:
    code, out, err = await chat(tmp_path, "hi")
    assert code == 2 and "OPENAI_API_KEY" in err


async def test_interactive_session_keeps_the_conversation(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script(Reply.text("Paris."), Reply.text("About 2 million."))
    code, out, err = await chat(
        tmp_path, "--tier", "openai/local-model", stdin="capital of France?\nits population?\n", OPENAI_BASE_URL=server.base_url
    )
    assert code == 0, err
    assert out.split() == ["Paris.", "About", "2", "million."]
    second = server.requests[1]
    assert second["model"] == "local-model"
    contents = [m.get("content") for m in second["messages"]]
    assert "capital of France?" in contents and "Paris." in contents and contents[-1] == "its population?"


async def test_unknown_agent_lists_the_known_ones(tmp_path: Path) -> None:
    code, _, err = await chat(tmp_path, "--agent", "nope", "hi")
    assert code == 2 and "assistant" in err


async def test_the_console_calls_mcp_tools_and_cannot_approve_gated_calls(server: FakeOpenAIServer, tmp_path: Path) -> None:
    write_stdio_server(tmp_path / "mcp", "fake")
    gate = 'mcp = { fake = ["echo"] }\napprove = { tools = ["calculator"], by = ["role:Mods"] }'
    write_agent(tmp_path / "agents", "tooler", ["calculator"], gate)
    server.script(
        Reply.tool_call("fake__echo", {"text": "from the console"}),
        Reply.tool_call("calculator", {"expression": "1+1"}),
        Reply.text("echoed, not calculated"),
    )
    code, out, err = await chat(
        tmp_path, "--agent", "tooler", "go", OPENAI_BASE_URL=server.base_url, AGENTS_DIR=str(tmp_path / "agents")
    )
    assert code == 0, err
    assert out.strip() == "echoed, not calculated"
    echo, refused = tool_results(server.requests[2])
    assert '<untrusted source="mcp:fake/echo">\nfrom the console\n</untrusted>' in echo
    assert "calculator was not run: it needs approval and nobody can approve calls here" in refused
