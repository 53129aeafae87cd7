"""Shared set-up for tests of MCP tools and approval gates in real runs: agent
and MCP server files in a temporary folder, the bot on the Discord emulator
(tests/bot_harness.py), and what the model server was offered and sent."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot_harness import Harness
from tests.fakes.discord_emulator import DiscordEmulator
from tests.fakes.discord_model import Channel
from tests.fakes.mcp_server import SCRIPT
from tests.fakes.model_servers import FakeOpenAIServer

AGENT = """
description = "Uses MCP tools."
system_prompt = "Use the tools."
tools = {tools}
{extra}
[access]
everyone = true
"""


def write_agent(folder: Path, agent_id: str, tools: list[str] = [], extra: str = "") -> None:  # noqa: B006
    folder.mkdir(exist_ok=True)
    (folder / f"{agent_id}.toml").write_text(AGENT.format(tools=json.dumps(tools), extra=extra))


def write_stdio_server(folder: Path, server_id: str, timeout: float = 20, env: dict[str, str] | None = None) -> None:
    folder.mkdir(exist_ok=True)
    lines = [f"command = {json.dumps([sys.executable, str(SCRIPT), 'stdio'])}", f"timeout = {timeout}"]
    if env:
        lines.append("env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }")
    (folder / f"{server_id}.toml").write_text("\n".join(lines) + "\n")


@pytest.fixture
async def world() -> AsyncIterator[tuple[DiscordEmulator, FakeOpenAIServer]]:
    async with DiscordEmulator() as emu, FakeOpenAIServer() as model:
        with emu.patch_discord():
            yield emu, model
        assert emu.violations == [], emu.violations
        assert emu.unknown_routes == [], emu.unknown_routes


def offered(request: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] for t in request.get("tools") or []}


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def ask(h: Harness, agent: str, prompt: str, runs: int) -> Channel:
    """/ask ``agent``; wait until ``runs`` runs in all are reported."""
    await h.emu.send_slash_command("ask", {"prompt": prompt, "agent": agent}, user=h.emu.member)
    thread = await h.thread_of(runs)
    await h.idle(runs, timeout=60)
    return thread


async def follow_up(h: Harness, thread: Channel, prompt: str, runs: int) -> None:
    await h.emu.post_message(prompt, user=h.emu.member, channel=thread)
    await h.idle(runs, timeout=60)


async def ephemeral_answer(h: Harness, command: str, user: Any) -> str:
    interaction = await h.emu.send_slash_command(command, user=user)
    await h.emu.wait_for(lambda: interaction.acknowledged)
    return str(interaction.callbacks[0].body["data"]["content"])
