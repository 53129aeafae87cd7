"""The environment that runs the real bot (``python -m bot``, ``python -m bot
chat``) against the loopback fakes, as a separate process; starting and
stopping that process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakes.discord_emulator import DiscordEmulator
    from tests.fakes.model_servers import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
#: Generous bounds for a process to start, connect or stop on a busy machine.
START = 30.0
#: Settings the caller's environment must not leak into a run against fakes.
OWN_PREFIXES = ("OPENAI_", "ANTHROPIC_", "DISCORD_", "MODEL_", "SEARXNG_", "BRAVE_", "TAVILY_", "MCP_")


def bot_environment(database: Path, **settings: str) -> dict[str, str]:
    """This process's environment without provider or Discord settings, plus
    the project on PYTHONPATH, the shipped agents, ``database`` and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=f"sqlite:///{database}",
        AGENTS_DIR=str(ROOT / "agents"),
        SKILLS_DIR=str(ROOT / "skills"),
    )
    env.update(settings)
    return env


def emulated_environment(
    database: Path, emu: DiscordEmulator, model: FakeOpenAIServer, **settings: str
) -> dict[str, str]:
    """``bot_environment`` for a bot on the Discord emulator (commands synced
    to its guild at once) and the OpenAI fake, with ``settings`` on top
    (they win over these defaults)."""
    defaults = {
        "DISCORD_TOKEN": emu.token,
        "DISCORD_API_BASE": emu.api_base,
        "DISCORD_GUILD_IDS": str(emu.guild.id),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": model.base_url,
    }
    return bot_environment(database, **(defaults | settings))


def identifies(emu: DiscordEmulator) -> int:
    """How many gateway IDENTIFYs the emulator has received."""
    return sum(1 for payload in emu.gateway_received if payload.get("op") == 2)


async def start_bot(
    cwd: Path, database: Path, emu: DiscordEmulator, model: FakeOpenAIServer, **settings: str
) -> asyncio.subprocess.Process:
    """``python -m bot`` on the emulator and model server, with ``settings``
    on top; returns once it has connected (its commands synced before, by
    the process whose shards own them)."""
    env = emulated_environment(
        database,
        emu,
        model,
        MODEL_MAX_RETRIES="0",
        LOG_LEVEL="DEBUG",  # the chattiest the bot gets: still no secret in it
        **settings,
    )
    identified = identifies(emu)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await emu.wait_for(lambda: identifies(emu) > identified or None, timeout=START)
    except BaseException:
        proc.kill()
        await proc.communicate()
        raise
    return proc


async def terminate(proc: asyncio.subprocess.Process) -> str:
    """SIGTERM, as a deployment stops the bot; its output once it exited
    (killed if it did not within START)."""
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), START)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return out.decode()
