"""A run's model answers stream to ``invocation.on_delta`` (executor side)."""

from __future__ import annotations

from executor import RunnableAgent
from executor.llm import StreamDelta, StreamInterruptedError, TextDelta, ToolCallDelta
from executor.llm.scripted import ScriptedModel, call, cut_off, text
from executor.ports import Ports
from executor.tools import Invocation, StepEvent
from tests.executor_kit import make_executor
from tests.fakes.memory_ports import MemoryPalette


async def test_every_turn_streams_in_order_after_its_model_step() -> None:
    model = ScriptedModel([call("echo", text="hi"), text("The answer is 42.")], chunk_chars=5)
    seen: list[str] = []

    def on_delta(d: StreamDelta) -> None:
        seen.append(d.text if isinstance(d, TextDelta) else f"<{d.name}>")

    def on_step(e: StepEvent) -> None:
        seen.append(f"[{e.kind}]")

    res = await make_executor(model).run(
        RunnableAgent("a", tools=("echo",)), Invocation("u", on_step=on_step, on_delta=on_delta), "q"
    )
    assert res.err is None and res.output == "The answer is 42."
    assert seen == ["[model]", "<echo>", "[tool_start]", "[tool_end]", "[model]", "The a", "nswer", " is 4", "2."]
    assert all(r.streamed for r in model.requests)


async def test_without_on_delta_nothing_streams_and_sub_runs_never_do() -> None:
    writer = RunnableAgent("writer", description="Writes prose.")
    model = ScriptedModel([call("agent__writer", task="write"), text("sub answer"), text("parent answer")])
    deltas: list[StreamDelta] = []
    ex = make_executor(model, ports=Ports(palette=MemoryPalette(agents=[writer])))
    res = await ex.run(RunnableAgent("boss", agents=("writer",)), Invocation("u", on_delta=deltas.append), "go")
    assert res.output == "parent answer"
    assert [r.streamed for r in model.requests] == [True, False, True]  # the sub-run's call is plain
    assert ToolCallDelta(0, "agent__writer") in deltas
    plain = ScriptedModel([text("x")])
    await make_executor(plain).run(RunnableAgent("a"), Invocation("u"), "q")
    assert not plain.requests[0].streamed


async def test_a_failing_observer_never_fails_the_run_and_a_cut_off_stream_does() -> None:
    calls = 0

    def broken(_d: StreamDelta) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the host's sink broke")

    res = await make_executor(ScriptedModel([text("whole answer")], chunk_chars=2)).run(
        RunnableAgent("a"), Invocation("u", on_delta=broken), "q"
    )
    assert res.err is None and res.output == "whole answer" and calls == 1  # told once, then left out
    res = await make_executor(ScriptedModel([cut_off("Half an")])).run(
        RunnableAgent("a"), Invocation("u", on_delta=lambda d: None), "q"
    )
    assert isinstance(res.err, StreamInterruptedError) and res.output == ""
