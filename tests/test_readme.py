"""The README's agent and skill files are valid, and it documents every setting."""

from __future__ import annotations

import re
from pathlib import Path

from bot.agents import load_agents
from bot.config import Settings
from executor.tools.base import Visibility
from executor.tools.builtin import OPTIONAL_TOOL_NAMES, builtin_tools
from executor.tools.registry import Registry

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_agent_and_skill_examples_load(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", README, re.S)
    agent = next(b for b in blocks if 'id = "analyst"' in b)
    skill = next(b for b in blocks if 'id = "summarize"' in b)
    (tmp_path / "agents").mkdir()
    (tmp_path / "skills").mkdir()
    (tmp_path / "agents" / "analyst.toml").write_text(agent)
    (tmp_path / "agents" / "assistant.toml").write_text((ROOT / "agents" / "assistant.toml").read_text())
    (tmp_path / "skills" / "summarize.toml").write_text(skill)
    names = set(Registry(builtin_tools()).names(Visibility.PRIVATE))
    loaded = load_agents(tmp_path / "agents", names, skills_dir=tmp_path / "skills")
    assert loaded.problems == []
    assert loaded.agents["analyst"].may_run(["Analysts"]) and not loaded.agents["analyst"].may_run(["Other"])
    assert loaded.skill("summarize") is not None


def test_readme_mcp_agent_example_loads(tmp_path: Path) -> None:
    block = next(b for b in re.findall(r"```toml\n(.*?)```", README, re.S) if 'id = "triage"' in b)
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "triage.toml").write_text(block)
    names = set(Registry(builtin_tools()).names(Visibility.PRIVATE))
    loaded = load_agents(tmp_path / "agents", names, mcp_servers={"github", "docs"})
    assert loaded.problems == []
    agent = loaded.agents["triage"].runnable()
    assert agent.external_tools["docs"] == ("*",) and agent.approval is not None


def test_readme_documents_every_setting() -> None:
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in README, name


def test_readme_lists_every_builtin_tool() -> None:
    for tool in [*(t.name for t in builtin_tools()), *OPTIONAL_TOOL_NAMES, "render_chart", "write_file"]:
        assert f"`{tool}`" in README, tool
