"""The bot's critic policy, alone and driving the executor's critic."""

from __future__ import annotations

from bot.supervisor import MEMORY, Supervisor
from executor import Defaults, RunnableAgent, RunStatus
from executor.llm.scripted import ScriptedModel, call, text
from executor.ports import CriticReport, Ports
from executor.tools.invocation import Invocation
from tests.executor_kit import make_executor


def report(reason: str, *, run: str = "r1", tools: tuple[str, ...] = ("a", "b"), max_steps: int = 8) -> CriticReport:
    return CriticReport(run, "agent", reason, 95.0, max_steps, max_steps, tools)  # type: ignore[arg-type]


async def test_ceiling_extends_progressing_runs_a_bounded_number_of_times() -> None:
    sup = Supervisor(max_extensions=2)
    first = await sup.escalate(report("ceiling"))
    second = await sup.escalate(report("ceiling"))
    third = await sup.escalate(report("ceiling"))
    assert (first.action, first.extra_steps) == ("extend", 4)
    assert second.action == "extend" and third.action == "continue"
    assert (await sup.escalate(report("ceiling", run="other"))).action == "extend"  # counted per run


async def test_ceiling_does_not_extend_a_run_circling_one_tool() -> None:
    assert (await Supervisor().escalate(report("ceiling", tools=("fetch_url",) * 5))).action == "continue"


async def test_idle_nudges_once_then_kills() -> None:
    sup = Supervisor()
    nudge = await sup.escalate(report("idle"))
    kill = await sup.escalate(report("idle"))
    assert nudge.action == "nudge" and "95 s" in nudge.message
    assert kill.action == "kill"


async def test_memory_is_bounded() -> None:
    sup = Supervisor()
    for i in range(MEMORY + 10):
        await sup.escalate(report("idle", run=f"r{i}"))
    assert len(sup._runs) == MEMORY
    assert (await sup.escalate(report("idle", run="r0"))).action == "nudge"  # forgotten, starts over


async def test_a_critic_agent_past_its_ceiling_and_a_stalled_one_killed() -> None:
    model = ScriptedModel(
        [call("echo", text="1"), call("fails", n=1), call("echo", text="2"), call("echo", text="3"), text("done")]
    )
    ex = make_executor(model, ports=Ports(escalator=Supervisor()), defaults=Defaults(max_consecutive_tool_errors=5))
    res = await ex.run(RunnableAgent("a", tools=("echo", "fails"), critic=True, max_iterations=2), Invocation("u"), "x")
    assert res.status is RunStatus.OK and res.output == "done" and len(res.steps) == 4 and not res.ceiling_hit

    stalled = ScriptedModel([call("slow", seconds=30)])
    ex = make_executor(stalled, ports=Ports(escalator=Supervisor()), defaults=Defaults(critic_soft_timeout=0.05))
    res = await ex.run(RunnableAgent("a", tools=("slow",), critic=True), Invocation("u"), "x")
    assert res.status is RunStatus.KILLED
