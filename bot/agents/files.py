"""The TOML formats of agent and skill files, as pydantic models.

Server owners write these files by hand, so every field is checked at
start-up and unknown keys are errors (a misspelt ``max_iteration`` must not
be silently ignored). Names that refer to the rest of the installation
(tools, tiers, skills) are checked by field validators against ``Known``,
passed as pydantic's validation context: one validation reports every
problem of a file at once, references included.
"""

from __future__ import annotations

import re
import string
from collections.abc import Set
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bot.approvals import role_named
from bot.mcp import ALL_TOOLS
from bot.tomlfile import whole_seconds
from executor import DEFAULT_APPROVAL_TIMEOUT
from executor.llm import ModelSpec

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_INPUT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

#: Absent means "the executor's default"; a given value must be positive.
MaxIterations = Field(None, gt=0, le=200, description="Model calls the agent may make.")
MaxRuntime = Field(None, gt=0, le=3600, description="Seconds the agent may run.")


def _check_id(value: str) -> str:
    # Ids become tool names (agent__ID, skill__ID) and slash-command choices.
    if not _ID.fullmatch(value):
        raise ValueError("use 1-32 lowercase letters, digits, '-' or '_', starting with a letter or digit")
    return value


def _check_unique(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"listed more than once: {', '.join(repeated)}")
    return values


@dataclass(frozen=True, slots=True)
class Known:
    """What definition files may refer to (the validation context).

    ``agent_tools`` are the per-run session tools only agents may name.
    ``tiers`` are MODEL_TIERS' names; None leaves tiers to the model resolver
    at run time. ``skills`` are the skills loaded so far (skills load first).
    """

    tools: Set[str]
    agent_tools: Set[str] = frozenset()
    #: Tools an agent gets from ``memory = true`` only, never by listing them.
    memory_tools: Set[str] = frozenset()
    tiers: Set[str] | None = None
    skills: Set[str] = frozenset()
    #: MCP server ids from MCP_DIR; None leaves ``mcp`` tables unchecked.
    mcp_servers: Set[str] | None = None


def _known(info: ValidationInfo) -> Known | None:
    return info.context if isinstance(info.context, Known) else None


def _check_tools(tools: list[str], info: ValidationInfo, *, agent: bool) -> list[str]:
    known = _known(info)
    if known is None:
        return tools
    allowed = known.tools | known.agent_tools if agent else known.tools
    bad = []
    for name in tools:
        if name in known.memory_tools:
            bad.append(f"{name!r} comes with 'memory = true' (agents only); do not list it in tools")
        elif name in known.agent_tools and not agent:
            bad.append(f"{name!r} is only available to agents, not skills")
        elif name not in allowed:
            bad.append(f"unknown tool {name!r} (known: {', '.join(sorted(allowed))})")
    if bad:
        raise ValueError("; ".join(bad))
    return tools


def _check_tier(tier: str, info: ValidationInfo) -> str:
    """A MODEL_TIERS name, or a provider/model spec (as the resolver takes)."""
    known = _known(info)
    if not tier or known is None or known.tiers is None or tier in known.tiers:
        return tier
    if "/" in tier:
        ModelSpec.parse(tier)  # its ValueError says what is wrong with the spec
        return tier
    raise ValueError(f"unknown tier {tier!r} (known: {', '.join(sorted(known.tiers)) or 'none'})")


def _check_mcp(mcp: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
    """Server ids of MCP_DIR, each with tool names or ``["*"]`` (all its tools)."""
    known = _known(info)
    bad = []
    for server, names in mcp.items():
        if known is not None and known.mcp_servers is not None and server not in known.mcp_servers:
            configured = ", ".join(sorted(known.mcp_servers)) or f"none; add {server}.toml to MCP_DIR"
            bad.append(f"no MCP server {server!r} (configured: {configured})")
        if not names:
            bad.append(f"{server}: name its tools, or [\"*\"] for all of them")
        elif ALL_TOOLS in names and len(names) > 1:
            bad.append(f"{server}: [\"*\"] already allows every tool; list names or \"*\", not both")
        elif len(set(names)) < len(names):
            bad.append(f"{server}: a tool is listed more than once")
    if bad:
        raise ValueError("; ".join(bad))
    return mcp


class _Strict(BaseModel):
    # TOML values are typed: "yes" for a boolean or "5" for a number is a mistake to report.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


class AccessFile(_Strict):
    """Who may run an agent besides admins: everyone, or members with one of
    ``roles`` (role names or ids). Neither means admins only."""

    everyone: bool = False
    roles: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_rule(self) -> AccessFile:
        if self.everyone and self.roles:
            raise ValueError("give either everyone = true or roles, not both")
        return self


class PaletteFile(_Strict):
    """The skills and agents an agent may delegate to, by id. Whether the
    agents load is known only once every agent file is read (see loader.py)."""

    skills: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)

    _unique = field_validator("skills", "agents")(_check_unique)

    @field_validator("skills")
    @classmethod
    def _skills_loaded(cls, skills: list[str], info: ValidationInfo) -> list[str]:
        known = _known(info)
        missing = [name for name in skills if known is not None and name not in known.skills]
        if missing:
            raise ValueError("; ".join(f"no skill {name!r} was loaded" for name in missing))
        return skills


class Identified(_Strict):
    """A file that defines something by id (default: the file's name)."""

    id: str

    _id = field_validator("id")(_check_id)


class Definition(Identified):
    """What agents and skills share: a model tier, tools and caps."""

    #: Whether the per-run session tools (Known.agent_tools) are allowed.
    session_tools: ClassVar[bool]

    name: str = ""
    description: str = Field(min_length=1, max_length=100)
    tier: str = ""
    tools: list[str] = Field(default_factory=list)
    max_iterations: int | None = MaxIterations
    max_runtime: float | None = MaxRuntime
    #: MCP tools it may use: server id -> tool names, ["*"] for all.
    mcp: dict[str, list[str]] = Field(default_factory=dict)

    _unique = field_validator("tools")(_check_unique)
    _tier = field_validator("tier")(_check_tier)
    _mcp = field_validator("mcp")(_check_mcp)

    @field_validator("tools")
    @classmethod
    def _tools_exist(cls, tools: list[str], info: ValidationInfo) -> list[str]:
        return _check_tools(tools, info, agent=cls.session_tools)


class ApproveFile(_Strict):
    """Tools whose calls wait for approval, who may give it and for how long."""

    tools: list[str] = Field(min_length=1)
    by: list[str] = Field(default_factory=list)
    timeout: float = Field(DEFAULT_APPROVAL_TIMEOUT, gt=0, le=86400)

    _unique = field_validator("tools")(_check_unique)
    _seconds = field_validator("timeout", mode="before")(whole_seconds)

    @field_validator("by")
    @classmethod
    def _deciders(cls, by: list[str]) -> list[str]:
        bad = [entry for entry in by if role_named(entry) is None]
        if bad:
            raise ValueError(
                f"name roles as \"role:NAME\" or \"role:ID\" (members with Manage Server may always decide): {', '.join(bad)}"
            )
        return by


class AgentFile(Definition):
    session_tools = True

    system_prompt: str = Field(min_length=1)
    palette: PaletteFile = Field(default_factory=PaletteFile)
    critic: bool = False
    #: Whether the answer grows in the thread while the model writes it.
    stream: bool = True
    memory: bool = False
    #: The tier a run uses instead when the member is at 90 % of a limit or more.
    cheaper_tier: str = ""
    access: AccessFile = Field(default_factory=AccessFile)
    approve: ApproveFile | None = None

    @model_validator(mode="after")
    def _approved_tools_are_its_own(self) -> AgentFile:
        """Every gated tool must be one this agent can call, or the gate guards nothing."""
        if self.approve is None:
            return self
        own = set(self.tools) | {f"skill__{s}" for s in self.palette.skills} | {f"agent__{a}" for a in self.palette.agents}
        strangers = []
        for name in self.approve.tools:
            server, sep, tool = name.partition("__")
            allowed = self.mcp.get(server, []) if sep else []
            if name not in own and ALL_TOOLS not in allowed and tool not in allowed:
                strangers.append(name)
        if strangers:
            raise ValueError(
                f"approve.tools: not tools of this agent: {', '.join(strangers)}"
                " (name its tools, skill__ID / agent__ID of its palette, or server__tool of its mcp table)"
            )
        return self

    _cheaper_tier = field_validator("cheaper_tier")(_check_tier)

    @field_validator("palette")
    @classmethod
    def _not_itself(cls, palette: PaletteFile, info: ValidationInfo) -> PaletteFile:
        # A field validator, not a model one: those run only when every field is valid.
        own = info.data.get("id")
        if own in palette.agents:
            raise ValueError(f"an agent cannot delegate to itself (agents lists {own!r})")
        return palette


class InputFile(_Strict):
    type: Literal["string", "integer", "number", "boolean"]
    description: str = ""
    required: bool = True


class SkillFile(Definition):
    """A skill: a focused sub-agent the model calls like a tool, with typed
    inputs filled into ``prompt`` (``str.format`` fields named after inputs)."""

    session_tools = False

    system_prompt: str = ""
    inputs: dict[str, InputFile] = Field(default_factory=dict)
    # After ``inputs``: its validator reads the validated inputs.
    prompt: str = Field(min_length=1)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, inputs: dict[str, InputFile]) -> dict[str, InputFile]:
        bad = [name for name in inputs if not _INPUT.fullmatch(name)]
        if bad:
            raise ValueError(f"input names must be identifiers (letters, digits, '_'): {', '.join(bad)}")
        return inputs

    @field_validator("prompt")
    @classmethod
    def _template_fits_inputs(cls, prompt: str, info: ValidationInfo) -> str:
        """Every ``{field}`` must name an input. An optional input the model
        leaves out fills its field with empty text (see executor/delegation.py).
        Unchecked when the inputs themselves are invalid (that is reported)."""
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(prompt) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{exc} (write literal braces as {{{{ and }}}})") from None
        inputs = info.data.get("inputs")
        for name in fields:
            if not _INPUT.fullmatch(name):
                raise ValueError(f"{{{name}}} must name an input (no positions, attributes or indexes)")
            if inputs is not None and name not in inputs:
                raise ValueError(f"{{{name}}} is not one of the inputs")
        return prompt
