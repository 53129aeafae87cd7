"""Agent and skill definitions, written as TOML files and loaded at start-up.

Host wiring::

    registry = Registry(builtin_tools(policy))
    loaded = load_agents(AGENTS_DIR, set(registry.names()), skills_dir=SKILLS_DIR)
    for problem in loaded.problems:
        log.warning(problem)
    ports = Ports(palette=loaded, ...)
"""

from __future__ import annotations

from bot.agents.definitions import Access, AgentDefinition, SkillDefinition
from bot.agents.loader import LoadedAgents, load_agents

__all__ = ["Access", "AgentDefinition", "LoadedAgents", "SkillDefinition", "load_agents"]
