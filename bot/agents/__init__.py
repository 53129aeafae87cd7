"""Agent and skill definitions, written as TOML files and loaded at start-up.

Host wiring (``bot.services.build_services``)::

    registry = Registry(builtin_tools())
    loaded = load_agents(settings.agents_dir, set(registry.names(Visibility.PRIVATE)), skills_dir=settings.skills_dir)
    for problem in loaded.problems:
        log.warning("agent files: %s", problem)
    ports = Ports(palette=loaded, ...)
"""

from __future__ import annotations

from bot.agents.definitions import Access, AgentDefinition, SkillDefinition
from bot.agents.loader import LoadedAgents, load_agents

__all__ = ["Access", "AgentDefinition", "LoadedAgents", "SkillDefinition", "load_agents"]
