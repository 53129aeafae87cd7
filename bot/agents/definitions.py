"""Loaded agents and skills: what the executor runs plus what only the host
needs (who may start an agent, which per-run session tools it uses)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.memory_tools import MEMORY_TOOL_NAMES
from executor import ApprovalPolicy, RunnableAgent


@dataclass(frozen=True, slots=True)
class Access:
    """Admins may always run an agent; others when ``everyone`` is set or they
    hold one of ``roles`` (role ids or names, names compared case-insensitively)."""

    everyone: bool = False
    roles: frozenset[str] = frozenset()

    def admits(self, member_roles: Iterable[str], is_admin: bool = False) -> bool:
        if is_admin or self.everyone:
            return True
        return not self.roles.isdisjoint(r.casefold() for r in member_roles)


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """An agent file, checked. ``tools`` are registry tools; ``session_tools``
    are the per-run ones it asked for (render_chart, write_file), which the
    host provides through the Invocation's session tool factory."""

    id: str
    name: str
    description: str
    system_prompt: str
    source: str
    tier: str = ""
    tools: tuple[str, ...] = ()
    session_tools: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    max_iterations: int = 0
    max_runtime: float = 0.0
    critic: bool = False
    #: The answer is shown while the model writes it (``stream = false`` turns it off).
    stream: bool = True
    #: Whether the agent has the memory tools (remember, recall).
    memory: bool = False
    #: The tier its runs use instead when the member is near a limit ("" none; see bot/budget_notices.py).
    cheaper_tier: str = ""
    access: Access = field(default_factory=Access)
    #: MCP tools it may use: server id -> tool names (``*``: all).
    mcp: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    approval: ApprovalPolicy | None = None

    def runnable(self) -> RunnableAgent:
        return RunnableAgent(
            id=self.id,
            name=self.name,
            description=self.description,
            system_prompt=self.system_prompt,
            tier=self.tier,
            tools=(*self.tools, *(sorted(MEMORY_TOOL_NAMES) if self.memory else ())),
            skills=self.skills,
            agents=self.agents,
            max_iterations=self.max_iterations,
            max_runtime=self.max_runtime,
            critic=self.critic,
            external_tools=self.mcp,
            approval=self.approval,
        )

    def may_run(self, member_roles: Iterable[str], is_admin: bool = False) -> bool:
        """Whether a member with these role ids and names may start this agent."""
        return self.access.admits(member_roles, is_admin)


@dataclass(frozen=True, slots=True)
class SkillDefinition:
    """A skill file, checked: a sub-agent with typed inputs and a prompt template."""

    id: str
    name: str
    description: str
    prompt_template: str
    inputs_schema: dict[str, Any]
    source: str
    system_prompt: str = ""
    tier: str = ""
    tools: tuple[str, ...] = ()
    max_iterations: int = 0
    max_runtime: float = 0.0
    mcp: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def runnable(self) -> RunnableAgent:
        return RunnableAgent(
            id=self.id,
            name=self.name,
            description=self.description,
            system_prompt=self.system_prompt,
            tier=self.tier,
            tools=self.tools,
            max_iterations=self.max_iterations,
            max_runtime=self.max_runtime,
            inputs_schema=self.inputs_schema,
            prompt_template=self.prompt_template,
            external_tools=self.mcp,
        )
