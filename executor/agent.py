"""RunnableAgent: an agent as the executor runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from executor.tools.base import Visibility


@dataclass(frozen=True, slots=True)
class RunnableAgent:
    """An agent as the executor runs it. Zero values fall back to Defaults.

    Skills are agents too: ``prompt_template`` (``str.format`` fields) and
    ``inputs_schema`` (JSON schema of the typed inputs) make the
    ``skill__NAME`` tool's parameters and the sub-run's input.
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
