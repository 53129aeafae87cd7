"""The environment that runs the real bot (``python -m bot``, ``python -m bot
chat``) against the loopback fakes, as a separate process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakes.discord_emulator import DiscordEmulator
    from tests.fakes.model_servers import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
#: Settings the caller's environment must not leak into a run against fakes.
OWN_PREFIXES = ("OPENAI_", "ANTHROPIC_", "DISCORD_", "MODEL_")


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
    to its guild at once) and the OpenAI fake, with ``settings`` on top."""
    return bot_environment(
        database,
        DISCORD_TOKEN=emu.token,
        DISCORD_API_BASE=emu.api_base,
        DISCORD_GUILD_IDS=str(emu.guild.id),
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=model.base_url,
        **settings,
    )
