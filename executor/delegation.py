"""Delegation tools: ``skill__NAME`` and ``agent__NAME`` run a sub-run through
the same executor (budget, audit with parent_run_id, depth limit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from executor.agent import RunnableAgent
from executor.errors import ToolboxError
from executor.ports import Palette
from executor.result import Result
from executor.tools.base import Tool, ToolResult
from executor.tools.invocation import Invocation
from executor.tools.registry import Toolbox

SubRun = Callable[[RunnableAgent, Invocation, str], Awaitable[Result]]

AGENT_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"task": {"type": "string", "description": "What the agent should do, with all context it needs."}},
    "required": ["task"],
}


def add_delegation_tools(
    toolbox: Toolbox,
    agent: RunnableAgent,
    invocation: Invocation,
    palette: Palette | None,
    run: SubRun,
    max_depth: int,
    default_runtime: float = 60.0,
) -> None:
    """Add the palette's delegation tools. None-safe: no palette, an empty
    palette, or a run already at ``max_depth`` adds nothing.

    The depth limit lives here alone: a run at ``max_depth`` is given no
    delegation tools, so no sub-run can start deeper.

    Raises ToolboxError for a palette entry the Palette does not know.
    """
    if palette is None or invocation.depth >= max_depth:
        return
    for name in agent.skills:
        skill = palette.skill(name)
        if skill is None:
            raise ToolboxError(f"agent {agent.id!r} names unknown skill {name!r} in its palette")
        params = skill.inputs_schema or {"type": "object", "properties": {}}
        toolbox.add(_tool(f"skill__{name}", skill, params, run, default_runtime))
    for name in agent.agents:
        sub = palette.agent(name)
        if sub is None:
            raise ToolboxError(f"agent {agent.id!r} names unknown agent {name!r} in its palette")
        toolbox.add(_tool(f"agent__{name}", sub, AGENT_PARAMETERS, run, default_runtime))


def _tool(name: str, sub: RunnableAgent, params: dict[str, Any], run: SubRun, default_runtime: float) -> Tool:
    async def handler(invocation: Invocation, args: dict[str, Any]) -> ToolResult:
        # Optional inputs the model left out fill their template fields with "".
        values = dict.fromkeys(params.get("properties", {}), "") | args
        try:
            task = sub.prompt_template.format(**values) if sub.prompt_template else str(args.get("task", ""))
        except (KeyError, IndexError, ValueError) as exc:
            return ToolResult(f"error: inputs do not fit {name!r}'s template: {exc}", True)
        child = invocation.child(skill_inputs=args)
        result = await run(sub, child, task)
        if result.err is not None:
            return ToolResult(f"error: {name} (run {child.run_id}) ended {result.status}: {result.err}", True)
        return ToolResult(result.output)

    description = sub.description or f"Delegate to {sub.name or sub.id}."
    # A sub-run is bounded by its own max_runtime, which its waits for people
    # do not count; the tool timeout must not cut it first (and does not
    # count those waits either: they pause this run too, see settle).
    runtime = sub.max_runtime if sub.max_runtime > 0 else default_runtime
    return Tool(name, description, handler, params, timeout=runtime + 30.0)
