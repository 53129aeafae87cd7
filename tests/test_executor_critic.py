"""The critic: nudge, extend and kill through the host's Escalator."""

from __future__ import annotations

import asyncio

from executor import Defaults, RunnableAgent, RunStatus
from executor.critic import NUDGE_PREFIX
from executor.llm.scripted import ScriptedModel, call, text
from executor.llm.types import Message, ToolSpec, UserMessage
from executor.ports import CriticDecision, Ports
from executor.tools.invocation import Invocation
from tests.executor_kit import make_executor
from tests.fakes.memory_ports import MemoryPalette, RecordingAudit, ScriptedEscalator

SOFT = Defaults(critic_soft_timeout=0.1)
#: For runs that must stay active: they last several idle windows, and no
#: gap between two steps comes near one window (steps come 5 times as often).
WINDOW = 0.25
STEP = WINDOW / 5
STEPS = 15


async def test_nudge_text_reaches_the_model() -> None:
    escalator = ScriptedEscalator([CriticDecision("nudge", "stop sleeping and answer")])
    audit = RecordingAudit()
    model = ScriptedModel([call("slow", seconds=0.35), text("answered")])
    res = await make_executor(model, ports=Ports(escalator=escalator, audit=audit), defaults=SOFT).run(
        RunnableAgent("a", tools=("slow",), critic=True), Invocation("u"), "x"
    )
    assert res.status is RunStatus.OK
    nudges = [m for m in model.requests[1].messages if isinstance(m, UserMessage) and m.content.startswith(NUDGE_PREFIX)]
    assert [m.content for m in nudges] == [NUDGE_PREFIX + "stop sleeping and answer"]
    assert escalator.reports[0].reason == "idle" and escalator.reports[0].last_tools == ("slow",)
    assert ("critic_nudge", "stop sleeping and answer") in [(k, d.get("message")) for k, d in audit.only().events]


async def test_extend_lets_a_healthy_run_pass_the_original_ceiling() -> None:
    escalator = ScriptedEscalator([CriticDecision("extend", extra_steps=3)])
    audit = RecordingAudit()
    model = ScriptedModel([call("echo", text=str(i)) for i in range(4)] + [text("finished")])
    agent = RunnableAgent("a", tools=("echo",), critic=True, max_iterations=2)
    res = await make_executor(model, ports=Ports(escalator=escalator, audit=audit)).run(agent, Invocation("u"), "x")
    assert res.status is RunStatus.OK and res.output == "finished"
    assert len(res.steps) == 4 and not res.ceiling_hit  # past the original ceiling of 2
    assert escalator.reports[0].reason == "ceiling" and escalator.reports[0].max_steps == 2
    assert [k for k, _ in audit.only().events] == ["critic_extend"]


async def test_without_critic_the_ceiling_is_fixed() -> None:
    escalator = ScriptedEscalator([CriticDecision("extend", extra_steps=3)])
    model = ScriptedModel([call("echo", text=str(i)) for i in range(2)] + [text("cut short")])
    agent = RunnableAgent("a", tools=("echo",), critic=False, max_iterations=2)
    res = await make_executor(model, ports=Ports(escalator=escalator)).run(agent, Invocation("u"), "x")
    assert res.ceiling_hit and res.output == "cut short" and escalator.reports == []


async def test_kill_gives_killed() -> None:
    escalator = ScriptedEscalator([CriticDecision("kill", "no progress")])
    model = ScriptedModel([call("slow", seconds=30)])
    res = await make_executor(model, ports=Ports(escalator=escalator), defaults=SOFT).run(
        RunnableAgent("a", tools=("slow",), critic=True), Invocation("u"), "x"
    )
    assert res.status is RunStatus.KILLED
    assert "stalled" in str(res.err)


async def test_a_failing_escalator_does_not_fail_the_run() -> None:
    class Broken:
        async def escalate(self, report: object) -> CriticDecision:
            raise RuntimeError("escalator down")

    seen: list[int] = []

    def answer(messages: list[Message], tools: list[ToolSpec]) -> object:
        seen.append(len(messages))
        return text("fine")

    model = ScriptedModel([call("slow", seconds=0.3), answer])
    res = await make_executor(model, ports=Ports(escalator=Broken()), defaults=SOFT).run(
        RunnableAgent("a", tools=("slow",), critic=True), Invocation("u"), "x"
    )
    assert res.status is RunStatus.OK and seen


async def test_idle_critic_does_not_fire_while_the_run_is_active() -> None:
    """The run lasts about three idle windows but steps five times a window: a
    critic whose idle clock did not restart on activity would kill it."""
    escalator = ScriptedEscalator([CriticDecision("kill")])
    model = ScriptedModel([call("echo", text=str(i)) for i in range(STEPS)] + [text("ok")], delay=STEP)
    res = await make_executor(
        model, ports=Ports(escalator=escalator), defaults=Defaults(critic_soft_timeout=WINDOW)
    ).run(RunnableAgent("a", tools=("echo",), critic=True, max_iterations=STEPS + 1), Invocation("u"), "x")
    assert res.status is RunStatus.OK and res.output == "ok" and len(res.steps) == STEPS
    assert escalator.reports == []


async def test_a_parent_waiting_on_a_working_child_is_not_idle() -> None:
    """The parent makes no step of its own while its delegated worker runs for
    about three idle windows; the worker's steps are the parent's activity."""
    escalator = ScriptedEscalator([CriticDecision("nudge", "wrap up"), CriticDecision("kill")])
    worker = RunnableAgent("worker", tools=("echo",), max_iterations=STEPS + 1)
    child_steps: list[int] = []

    async def reply(messages: list[Message], tools: list[ToolSpec]) -> object:
        if any(t.name == "agent__worker" for t in tools):  # the parent
            return text("parent done") if child_steps else call("agent__worker", task="work")
        await asyncio.sleep(STEP)
        child_steps.append(1)
        return call("echo", text=str(len(child_steps))) if len(child_steps) <= STEPS else text("child done")

    model = ScriptedModel([reply], repeat_last=True)
    ex = make_executor(
        model,
        ports=Ports(escalator=escalator, palette=MemoryPalette(agents=[worker])),
        defaults=Defaults(critic_soft_timeout=WINDOW),
    )
    res = await ex.run(RunnableAgent("boss", agents=("worker",), critic=True), Invocation("u"), "x")
    assert res.status is RunStatus.OK and res.output == "parent done"
    assert res.steps[0].result == "child done" and len(child_steps) == STEPS + 1
    assert escalator.reports == []
