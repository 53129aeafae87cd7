"""RunnableAgent: an agent as the executor runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from executor.approval import ApprovalPolicy
from executor.tools.base import Visibility


@dataclass(frozen=True, slots=True)
class RunnableAgent:
    """An agent as the executor runs it. Zero values fall back to Defaults.

    Skills are agents too: ``prompt_template`` (``str.format`` fields) and
    ``inputs_schema`` (JSON schema of the typed inputs) make the
    ``skill__NAME`` tool's parameters and the sub-run's input.

    ``external_tools`` are tools the host's ToolSource offers (MCP servers):
    source id -> tool names, ``"*"`` for all of a source's tools.
    ``approval`` names the tools whose calls wait for a person's approval.
    """

    id: str
    name: str = ""
    description: str = ""
    system_prompt: str = ""
    tier: str = ""
    tools: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    max_iterations: int = 0
    max_runtime: float = 0.0
    critic: bool = False
    visibility: Visibility = Visibility.PUBLIC
    inputs_schema: dict[str, Any] | None = None
    prompt_template: str = ""
    external_tools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    approval: ApprovalPolicy | None = None
