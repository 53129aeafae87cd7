"""The TOML formats of agent and skill files, as pydantic models.

Server owners write these files by hand, so every field is checked at
start-up and unknown keys are errors (a misspelt ``max_iteration`` must not
be silently ignored).
"""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    """The skills and agents an agent may delegate to, by id."""

    skills: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)

    _unique = field_validator("skills", "agents")(_check_unique)


class Identified(_Strict):
    """A file that defines something by id (default: the file's name)."""

    id: str

    _id = field_validator("id")(_check_id)


class AgentFile(Identified):
    name: str = ""
    description: str = Field(min_length=1, max_length=100)
    system_prompt: str = Field(min_length=1)
    tier: str = ""
    tools: list[str] = Field(default_factory=list)
    palette: PaletteFile = Field(default_factory=PaletteFile)
    max_iterations: int | None = MaxIterations
    max_runtime: float | None = MaxRuntime
    critic: bool = False
    access: AccessFile = Field(default_factory=AccessFile)

    _unique = field_validator("tools")(_check_unique)


class InputFile(_Strict):
    type: Literal["string", "integer", "number", "boolean"]
    description: str = ""
    required: bool = True


class SkillFile(Identified):
    """A skill: a focused sub-agent the model calls like a tool, with typed
    inputs filled into ``prompt`` (``str.format`` fields named after inputs)."""

    name: str = ""
    description: str = Field(min_length=1, max_length=100)
    prompt: str = Field(min_length=1)
    system_prompt: str = ""
    tier: str = ""
    tools: list[str] = Field(default_factory=list)
    inputs: dict[str, InputFile] = Field(default_factory=dict)
    max_iterations: int | None = MaxIterations
    max_runtime: float | None = MaxRuntime

    _unique = field_validator("tools")(_check_unique)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, inputs: dict[str, InputFile]) -> dict[str, InputFile]:
        bad = [name for name in inputs if not _INPUT.fullmatch(name)]
        if bad:
            raise ValueError(f"input names must be identifiers (letters, digits, '_'): {', '.join(bad)}")
        return inputs

    @model_validator(mode="after")
    def _template_fits_inputs(self) -> SkillFile:
        """Every ``{field}`` must name an input. An optional input the model
        leaves out fills its field with empty text (see executor/delegation.py)."""
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.prompt) if f is not None]
        except ValueError as exc:
            raise ValueError(f"prompt: {exc} (write literal braces as {{{{ and }}}})") from None
        for name in fields:
            if not _INPUT.fullmatch(name):
                raise ValueError(f"prompt: {{{name}}} must name an input (no positions, attributes or indexes)")
            if name not in self.inputs:
                raise ValueError(f"prompt: {{{name}}} is not one of the inputs")
        return self
