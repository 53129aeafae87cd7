"""Dependencies point one way, and the seams show in the tree:

- executor/ imports nothing from discord, bot or cogs;
- in bot/, only bot/discord_host/ imports discord, and the Discord-free
  modules (services, run service, store, messages, console) import nothing
  from it, so the console and tests reach them without Discord;
- cogs/ stay thin: parse, check, hand off (450 lines at most, all together).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"discord", "bot", "cogs"}
DISCORD_HOST = ROOT / "bot" / "discord_host"
#: ``python -m bot`` starts the Discord bot: the one Discord-free module that may reach into it.
ENTRY_POINT = ROOT / "bot" / "__main__.py"
COGS_MAX_LINES = 450


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def imported_roots(path: Path) -> set[str]:
    return {m.split(".")[0] for m in imported_modules(path)}


def test_executor_imports_no_host_code() -> None:
    files = sorted((ROOT / "executor").rglob("*.py"))
    assert len(files) > 10
    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import discord.ext\nfrom bot.store import Store\n")
    assert imported_roots(bad) & FORBIDDEN == {"discord", "bot"}


def discord_free_host_modules() -> list[Path]:
    return sorted(f for f in (ROOT / "bot").rglob("*.py") if DISCORD_HOST not in f.parents)


def test_only_the_discord_host_imports_discord() -> None:
    files = discord_free_host_modules()
    assert len(files) > 20 and any(f.name == "run_service.py" for f in files)
    assert {str(f.relative_to(ROOT)) for f in files if "discord" in imported_roots(f)} == set()
    assert all("discord" in imported_roots(f) for f in DISCORD_HOST.glob("*.py") if f.name != "__init__.py")


def test_discord_free_modules_do_not_reach_into_the_discord_host() -> None:
    reaching = {
        str(f.relative_to(ROOT))
        for f in discord_free_host_modules()
        if f != ENTRY_POINT and any(m.startswith("bot.discord_host") for m in imported_modules(f))
    }
    assert reaching == set()


def test_cogs_are_thin() -> None:
    lines = sum(len(f.read_text().splitlines()) for f in (ROOT / "cogs").glob("*.py"))
    assert 0 < lines <= COGS_MAX_LINES
