"""Delegation tools: sub-runs through the same executor, audited under the parent."""

from __future__ import annotations

import pytest

from executor import Defaults, RunnableAgent, RunStatus
from executor.errors import ToolboxError
from executor.llm.model import ModelResponse
from executor.llm.scripted import ScriptedModel, call, text
from executor.llm.types import Message, ToolSpec
from executor.ports import Ports
from executor.tools.invocation import Invocation
from tests.executor_kit import make_executor
from tests.fakes.memory_ports import MemoryPalette, RecordingAudit, RecordingBudget

SUMMARISE = RunnableAgent(
    "summarize",
    description="Summarise a text.",
    prompt_template="Summarise in {words} words: {text}",
    inputs_schema={
        "type": "object",
        "properties": {"text": {"type": "string"}, "words": {"type": "integer"}},
        "required": ["text", "words"],
    },
)
WRITER = RunnableAgent("writer", description="Writes prose.")


async def test_skill_sub_run_is_audited_under_its_parent() -> None:
    audit, budget = RecordingAudit(), RecordingBudget()
    model = ScriptedModel([call("skill__summarize", text="long text", words=5), text("short"), text("parent done")])
    ex = make_executor(model, ports=Ports(audit=audit, budget=budget, palette=MemoryPalette(skills=[SUMMARISE])))
    inv = Invocation("u", guild_id="g")
    res = await ex.run(RunnableAgent("boss", skills=("summarize",)), inv, "go")
    assert res.status is RunStatus.OK and res.output == "parent done"
    assert res.steps[0].result == "short"
    child = [r for r in audit.runs.values() if r.info.parent_run_id == inv.run_id]
    assert len(child) == 1 and child[0].info.agent_id == "summarize"
    assert child[0].info.inputs == {"text": "long text", "words": 5}
    assert model.requests[1].messages[-1].content == "Summarise in 5 words: long text"
    assert len(budget.commits) == 2  # the sub-run passes the budget too
    spec = next(t for t in model.requests[0].tools if t.name == "skill__summarize")
    assert spec.parameters["required"] == ["text", "words"]


async def test_agent_delegation_cannot_recurse_past_the_depth_limit() -> None:
    """An agent that always delegates to itself, limit 2: the runs at depth 0
    and 1 are offered ``agent__looper``, the run at depth 2 is not, and no run
    goes deeper. (The model would go on to depth 6 if it could.)"""
    audit = RecordingAudit()
    looper = RunnableAgent("looper", tools=("echo",), agents=("looper",), max_iterations=1)
    offered: dict[int, bool] = {}  # depth -> was agent__looper in that run's tools

    def reply(messages: list[Message], tools: list[ToolSpec]) -> ModelResponse:
        depth = int(messages[0].content.removeprefix("depth "))
        if not tools:  # the tool-less last answer at the step ceiling
            return text(f"answer from depth {depth}")
        offered[depth] = any(t.name == "agent__looper" for t in tools)
        if offered[depth] and depth < 6:
            return call("agent__looper", task=f"depth {depth + 1}")
        return text(f"bottom at depth {depth}")

    ex = make_executor(
        ScriptedModel([reply], repeat_last=True),
        ports=Ports(audit=audit, palette=MemoryPalette(agents=[looper])),
        defaults=Defaults(max_delegation_depth=2),
    )
    res = await ex.run(looper, Invocation("u"), "depth 0")
    assert res.status is RunStatus.OK
    assert offered == {0: True, 1: True, 2: False}
    by_id = {r.info.run_id: r for r in audit.runs.values()}

    def depth(run_id: str) -> int:
        parent = by_id[run_id].info.parent_run_id
        return 0 if not parent else 1 + depth(parent)

    assert sorted(depth(r) for r in by_id) == [0, 1, 2]
    assert all([c.status for c in r.closes] == ["ok"] for r in by_id.values())


async def test_unknown_palette_entry_is_a_clean_error() -> None:
    res = await make_executor(ScriptedModel([]), ports=Ports(palette=MemoryPalette())).run(
        RunnableAgent("a", agents=("ghost",)), Invocation("u"), "x"
    )
    assert isinstance(res.err, ToolboxError) and "ghost" in str(res.err)


async def test_skill_inputs_that_do_not_fit_the_template_are_a_tool_error() -> None:
    model = ScriptedModel([call("skill__summarize", text="only text"), text("recovered")])
    ex = make_executor(model, ports=Ports(palette=MemoryPalette(skills=[SUMMARISE])))
    res = await ex.run(RunnableAgent("boss", skills=("summarize",)), Invocation("u"), "go")
    # 'words' is required by the schema: refused before the sub-run
    assert res.steps[0].is_error and "words" in res.steps[0].result


async def test_failed_sub_run_is_an_error_result_for_the_parent() -> None:
    model = ScriptedModel([call("agent__writer", task="write"), RuntimeError("sub model down"), text("parent ok")])
    ex = make_executor(model, ports=Ports(palette=MemoryPalette(agents=[WRITER])))
    res = await ex.run(RunnableAgent("boss", agents=("writer",)), Invocation("u"), "go")
    assert res.status is RunStatus.OK and res.steps[0].is_error and "sub model down" in res.steps[0].result


def test_palette_none_adds_nothing() -> None:
    from executor.delegation import add_delegation_tools
    from executor.tools.registry import Toolbox

    box = Toolbox(Invocation("u"))
    add_delegation_tools(box, RunnableAgent("a", agents=("x",)), Invocation("u"), None, None, 3)  # type: ignore[arg-type]
    assert len(box) == 0
    with pytest.raises(ToolboxError):
        add_delegation_tools(box, RunnableAgent("a", skills=("x",)), Invocation("u"), MemoryPalette(), None, 3)  # type: ignore[arg-type]


async def test_optional_skill_inputs_may_be_left_out() -> None:
    skill = RunnableAgent(
        "greet",
        prompt_template="Greet {who}{suffix}",
        inputs_schema={
            "type": "object",
            "properties": {"who": {"type": "string"}, "suffix": {"type": "string"}},
            "required": ["who"],
        },
    )
    model = ScriptedModel([call("skill__greet", who="Ada"), text("Hello Ada"), text("done")])
    ex = make_executor(model, ports=Ports(palette=MemoryPalette(skills=[skill])))
    res = await ex.run(RunnableAgent("boss", skills=("greet",)), Invocation("u"), "go")
    assert res.status is RunStatus.OK and res.steps[0].result == "Hello Ada"
    assert model.requests[1].messages[-1].content == "Greet Ada"


def test_delegation_tool_timeout_covers_the_sub_runs_own_runtime() -> None:
    from executor.delegation import add_delegation_tools
    from executor.tools.registry import Toolbox

    box = Toolbox(Invocation("u"))
    slow = RunnableAgent("slowpoke", max_runtime=600)
    add_delegation_tools(box, RunnableAgent("a", agents=("slowpoke", "writer")), Invocation("u"),
                         MemoryPalette(agents=[slow, WRITER]), None, 3, default_runtime=90)  # type: ignore[arg-type]
    timeouts = {t.name: t.timeout for t in box._tools.values()}
    assert timeouts == {"agent__slowpoke": 630, "agent__writer": 120}
