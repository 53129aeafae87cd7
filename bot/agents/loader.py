"""Reading AGENTS_DIR and SKILLS_DIR at start-up.

A broken file must not take the bot down with it: each problem becomes one
line naming the file and the field, every problem of a file is reported
(not only the first), and every good definition still loads. An agent whose
tools, tier or palette entries do not exist is not loaded, since its runs
would fail before their first model call. The exception is a tool the host
offers only when configured (web_search without a search backend): the file
loads without it, so configuring it later needs no edit, and the host warns.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from bot.agents.definitions import Access, AgentDefinition, SkillDefinition
from bot.agents.files import AgentFile, Identified, Known, SkillFile
from bot.memory_tools import MEMORY_TOOL_NAMES
from bot.tomlfile import read_toml
from executor import ApprovalPolicy, RunnableAgent
from executor.tools.builtin import OPTIONAL_TOOL_NAMES, WORKSPACE_TOOL_NAMES, describe_errors

F = TypeVar("F", bound=Identified)
D = TypeVar("D", AgentDefinition, SkillDefinition)


@dataclass(slots=True)
class LoadedAgents:
    """The loaded definitions and what was wrong with the rest. Also the
    executor's Palette: delegation resolves skill and agent ids here."""

    agents: dict[str, AgentDefinition] = field(default_factory=dict)
    skills: dict[str, SkillDefinition] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: Optional tools this host does not offer -> the agents and skills that
    #: name them ("agent researcher"), which loaded without them.
    unavailable_tools: dict[str, list[str]] = field(default_factory=dict)

    def skill(self, name: str) -> RunnableAgent | None:
        found = self.skills.get(name)
        return found.runnable() if found else None

    def agent(self, name: str) -> RunnableAgent | None:
        found = self.agents.get(name)
        return found.runnable() if found else None

    def available_to(self, member_roles: Iterable[str], is_admin: bool = False) -> list[AgentDefinition]:
        """The agents this member may start, by id."""
        roles = list(member_roles)
        return [a for _, a in sorted(self.agents.items()) if a.may_run(roles, is_admin)]


def load_agents(
    agents_dir: str | Path,
    known_tools: Set[str],
    *,
    skills_dir: str | Path | None = None,
    session_tools: Set[str] = WORKSPACE_TOOL_NAMES,
    optional_tools: Set[str] = OPTIONAL_TOOL_NAMES,
    tiers: Set[str] | None = None,
    mcp_servers: Set[str] | None = None,
) -> LoadedAgents:
    """Load every ``*.toml`` in ``agents_dir`` (and ``skills_dir``).

    ``known_tools`` are the registry's tool names; ``session_tools`` the
    per-run tools an agent (not a skill: sub-runs get no session tools) may
    also name; ``optional_tools`` those a file may name even when they are
    not among ``known_tools`` (they are then left out of the definition and
    listed in ``unavailable_tools``); ``tiers`` the MODEL_TIERS names a
    ``tier`` may use besides a provider/model spec (None: not checked);
    ``mcp_servers`` the MCP server ids ``mcp`` tables may name (None: not
    checked). Palette entries must name loaded skills and agents. Every problem of a
    file is reported.
    """
    loaded = LoadedAgents()
    problems = loaded.problems
    unavailable = frozenset(optional_tools) - frozenset(known_tools)
    known = Known(
        tools=frozenset(known_tools) | unavailable,
        agent_tools=session_tools,
        memory_tools=MEMORY_TOOL_NAMES,
        tiers=tiers,
        mcp_servers=mcp_servers,
    )
    if skills_dir is not None:
        for path, skill in _by_id(_read_dir(Path(skills_dir), SkillFile, known, problems), problems).values():
            loaded.skills[skill.id] = _skill(skill, path)
    known = replace(known, skills=frozenset(loaded.skills))
    candidates = _by_id(_read_dir(Path(agents_dir), AgentFile, known, problems), problems)
    _drop_broken_delegations(candidates, problems)
    for path, agent in candidates.values():
        loaded.agents[agent.id] = _agent(agent, path, session_tools)
    _leave_out(loaded.skills, "skill", unavailable, loaded.unavailable_tools)
    _leave_out(loaded.agents, "agent", unavailable, loaded.unavailable_tools)
    return loaded


def _leave_out(definitions: dict[str, D], kind: str, unavailable: Set[str], noted: dict[str, list[str]]) -> None:
    """Take the ``unavailable`` tools out of the definitions naming them, noting which did."""
    for id_, definition in definitions.items():
        for tool in unavailable & set(definition.tools):
            noted.setdefault(tool, []).append(f"{kind} {id_}")
        definitions[id_] = replace(definition, tools=tuple(t for t in definition.tools if t not in unavailable))


def _read_dir(directory: Path, model: type[F], known: Known, problems: list[str]) -> list[tuple[Path, F]]:
    if not directory.is_dir():
        problems.append(f"{directory}: directory not found")
        return []
    out = []
    for path in sorted(directory.glob("*.toml")):
        parsed = _read(path, model, known, problems)
        if parsed is not None:
            out.append((path, parsed))
    return out


def _read(path: Path, model: type[F], known: Known, problems: list[str]) -> F | None:
    data = read_toml(path, problems)
    if data is None:
        return None
    data.setdefault("id", path.stem)
    try:
        return model.model_validate(data, context=known)
    except ValidationError as exc:
        problems.extend(f"{path}: {line}" for line in describe_errors(exc))
        return None


def _by_id(files: list[tuple[Path, F]], problems: list[str]) -> dict[str, tuple[Path, F]]:
    """The files by id; a later file reusing an id is reported and skipped."""
    out: dict[str, tuple[Path, F]] = {}
    for path, parsed in files:
        if parsed.id in out:
            problems.append(f"{path}: id: {parsed.id!r} is already defined in {out[parsed.id][0]}")
        else:
            out[parsed.id] = (path, parsed)
    return out


def _drop_broken_delegations(candidates: dict[str, tuple[Path, AgentFile]], problems: list[str]) -> None:
    """Remove agents delegating to agents that did not load, until none do
    (dropping one can break another that delegates to it)."""
    changed = True
    while changed:
        changed = False
        for id_, (path, agent) in list(candidates.items()):
            missing = [a for a in agent.palette.agents if a not in candidates]
            if missing:
                problems.extend(f"{path}: palette.agents: no agent {name!r} was loaded" for name in missing)
                del candidates[id_]
                changed = True
def _agent(f: AgentFile, path: Path, session_tools: Set[str]) -> AgentDefinition:
    return AgentDefinition(
        id=f.id,
        name=f.name or f.id,
        description=f.description,
        system_prompt=f.system_prompt,
        source=str(path),
        tier=f.tier,
        tools=tuple(t for t in f.tools if t not in session_tools),
        session_tools=tuple(t for t in f.tools if t in session_tools),
        skills=tuple(f.palette.skills),
        agents=tuple(f.palette.agents),
        max_iterations=f.max_iterations or 0,
        max_runtime=f.max_runtime or 0.0,
        critic=f.critic,
        stream=f.stream,
        memory=f.memory,
        cheaper_tier=f.cheaper_tier,
        access=Access(f.access.everyone, frozenset(r.casefold() for r in f.access.roles)),
        mcp=_mcp(f),
        approval=ApprovalPolicy(frozenset(f.approve.tools), tuple(f.approve.by), f.approve.timeout) if f.approve else None,
    )


def _mcp(f: AgentFile | SkillFile) -> dict[str, tuple[str, ...]]:
    return {server: tuple(names) for server, names in f.mcp.items()}


def _skill(f: SkillFile, path: Path) -> SkillDefinition:
    schema = {
        "type": "object",
        "properties": {
            name: {"type": spec.type, **({"description": spec.description} if spec.description else {})}
            for name, spec in f.inputs.items()
        },
        "required": [name for name, spec in f.inputs.items() if spec.required],
    }
    return SkillDefinition(
        id=f.id,
        name=f.name or f.id,
        description=f.description,
        prompt_template=f.prompt,
        inputs_schema=schema,
        source=str(path),
        system_prompt=f.system_prompt,
        tier=f.tier,
        tools=tuple(f.tools),
        max_iterations=f.max_iterations or 0,
        max_runtime=f.max_runtime or 0.0,
        mcp=_mcp(f),
    )
