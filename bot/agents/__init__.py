"""Agent and skill definitions, written as TOML files and loaded at start-up.

Host wiring (``bot/services.py``)::

    registry = Registry(builtin_tools())
    loaded = load_agents(AGENTS_DIR, set(registry.names(Visibility.PRIVATE)), skills_dir=SKILLS_DIR, tiers=...)
    for problem in loaded.problems:
        log.warning(problem)
    ports = Ports(palette=loaded, ...)
"""

from __future__ import annotations

from bot.agents.definitions import Access, AgentDefinition, SkillDefinition
from bot.agents.loader import LoadedAgents, load_agents

__all__ = ["Access", "AgentDefinition", "LoadedAgents", "SkillDefinition", "load_agents"]
