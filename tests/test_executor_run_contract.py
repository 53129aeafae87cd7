"""Audit/budget exactly once, steps, steering, PostRun, guards, ceiling, delivery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from executor.errors import LoopGuardTripped
from executor.llm.scripted import ScriptedModel, call, calls, text, tool_call
from executor.llm.types import Image, Message, UserMessage
from executor.ports import CriticDecision, Ports
from executor.run import Defaults, RunnableAgent, RunStatus, zip_steps
from executor.tools.base import Tool, ToolResult
from executor.tools.invocation import (
    Artifact,
    Invocation,
    PostRunResult,
    RunSession,
    SessionTools,
    StepEvent,
)
from tests.executor_kit import ECHO, make_executor
from tests.fakes.memory_ports import (
    RecordingAudit,
    RecordingBudget,
    RecordingDelivery,
    ScriptedEscalator,
)

AGENT = RunnableAgent("helper", tools=("echo", "boom", "slow", "fails"))
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 16


def scripts() -> dict[str, tuple[list[Any], RunnableAgent, str]]:
    """One script per terminal path; the last element is how to end it."""
    return {
        "ok": ([call("echo", text="a"), text("fine")], AGENT, ""),
        "error": ([call("echo", text="a"), RuntimeError("model broke")], AGENT, ""),
        "timeout": ([call("slow", seconds=30)], RunnableAgent("helper", tools=("slow",), max_runtime=0.2), ""),
        "cancelled": ([call("slow", seconds=30)], AGENT, "cancel"),
        "killed": (
            [call("slow", seconds=30)],
            RunnableAgent("helper", tools=("slow",), critic=True),
            "",
        ),
    }


@pytest.mark.parametrize("path", ["ok", "error", "timeout", "cancelled", "killed"])
async def test_audit_and_budget_happen_exactly_once_on_every_path(path: str) -> None:
    script, agent, how = scripts()[path]
    audit, budget = RecordingAudit(), RecordingBudget()
    escalator = ScriptedEscalator([CriticDecision("kill", "stalled")])
    ex = make_executor(
        ScriptedModel(script),
        ports=Ports(audit=audit, budget=budget, escalator=escalator),
        defaults=Defaults(critic_soft_timeout=0.1),
    )
    inv = Invocation("u1")
    task = asyncio.create_task(ex.run(agent, inv, "go"))
    if how == "cancel":
        await asyncio.sleep(0.1)
        inv.cancel.cancel()
    res = await task
    run = audit.only()
    assert res.status.value == path
    assert [c.status for c in run.closes] == [path]
    assert budget.checks == [inv.run_id]
    assert [(rid, s.status) for rid, s in budget.commits] == [(inv.run_id, path)]
    assert len(run.steps) == len(run.tools) == (0 if path in ("timeout", "cancelled", "killed") else 1)
    if path == "killed":
        assert [k for k, _ in run.events] == ["critic_kill"]


def test_zip_steps_never_records_ghosts() -> None:
    c1, c2 = tool_call("a"), tool_call("b")
    r1, r2, r3 = ToolResult("1"), ToolResult("2"), ToolResult("3")
    assert zip_steps([c1, c2], [r1, r2, r3]) == [(c1, r1), (c2, r2)]  # more results than calls
    assert zip_steps([c1, c2], [r1]) == [(c1, r1)]  # fewer results than calls
    assert zip_steps([], [r1]) == []


async def test_parallel_tool_calls_run_concurrently_and_return_in_call_order() -> None:
    started: list[str] = []
    gate = asyncio.Event()

    async def wait_then(inv: Invocation, args: dict[str, Any]) -> str:
        started.append(args["name"])
        if len(started) == 2:
            gate.set()
        await asyncio.wait_for(gate.wait(), 5)  # deadlocks unless both run at once
        if args["name"] == "first":
            await asyncio.sleep(0.05)  # finishes last, must still come back first
        return args["name"]

    t = Tool("pair", "p", wait_then, {"type": "object", "properties": {"name": {"type": "string"}}})
    model = ScriptedModel([calls(tool_call("pair", {"name": "first"}), tool_call("pair", {"name": "second"})), text("ok")])
    res = await make_executor(model, tools=(t,)).run(RunnableAgent("a", tools=("pair",)), Invocation("u"), "x")
    assert res.status is RunStatus.OK
    tool_msgs = [m for m in model.requests[1].messages if m.role == "tool"]
    assert [m.content for m in tool_msgs] == ["first", "second"]
    assert [s.result for s in res.steps] == ["first", "second"]


async def test_image_attached_by_tool_reaches_the_very_next_model_call() -> None:
    async def look(inv: Invocation, args: dict[str, Any]) -> str:
        assert inv.attach_images is not None
        inv.attach_images([Image(PNG, "image/png", "https://example.test/cat.png")], "the cat picture")
        return "attached"

    t = Tool("look", "look at an image", look)
    model = ScriptedModel([call("look"), text("a cat")])
    await make_executor(model, tools=(t,)).run(RunnableAgent("a", tools=("look",)), Invocation("u"), "x")
    second = model.requests[1].messages
    steer = [m for m in second if isinstance(m, UserMessage) and m.images]
    assert len(steer) == 1 and steer[0].images[0].data == PNG and steer[0].content == "the cat picture"
    assert second[-1] is steer[0]  # drained right before this call, after the tool result


async def test_input_images_and_history_reach_the_model() -> None:
    model = ScriptedModel([text("ok")])
    inv = Invocation("u", history=[UserMessage("earlier question")], input_images=[Image(PNG, "image/png")])
    await make_executor(model).run(RunnableAgent("a"), inv, "now")
    msgs = model.requests[0].messages
    assert [m.content for m in msgs] == ["earlier question", "now"]
    assert isinstance(msgs[-1], UserMessage) and msgs[-1].images[0].data == PNG


def session_factory(record: dict[str, Any], *, fail_post: bool = False, fail_cleanup: bool = False) -> Any:
    def factory(session: RunSession) -> SessionTools:
        async def post_run(transcript: list[Message], output: str, err: BaseException | None) -> PostRunResult:
            record["transcript"] = transcript
            record["err"] = err
            if fail_post:
                raise RuntimeError("chart renderer crashed")
            return PostRunResult([Artifact("out.txt", output.encode(), "text/plain")])

        async def cleanup() -> None:
            record["cleaned"] = True
            if fail_cleanup:
                raise RuntimeError("cleanup crashed")

        return SessionTools([ECHO.__class__("note", "n", ECHO.handler)], post_run, cleanup)

    return factory


async def test_post_run_gets_full_transcript_on_a_failed_run() -> None:
    record: dict[str, Any] = {}
    model = ScriptedModel([call("note", text="x"), RuntimeError("model broke")])
    inv = Invocation("u", session_tool_factory=session_factory(record))
    res = await make_executor(model).run(RunnableAgent("a"), inv, "go")
    assert res.status is RunStatus.ERROR
    roles = [m.role for m in record["transcript"]]
    assert roles == ["user", "assistant", "tool"]
    assert isinstance(record["err"], RuntimeError)
    assert record["cleaned"] is True
    assert res.post_run_result is not None and res.post_run_result.artifacts[0].name == "out.txt"


@pytest.mark.parametrize(("fail_post", "fail_cleanup"), [(True, False), (False, True), (True, True)])
async def test_raising_post_run_or_cleanup_leaves_a_good_run_ok(fail_post: bool, fail_cleanup: bool) -> None:
    record: dict[str, Any] = {}
    audit = RecordingAudit()
    model = ScriptedModel([text("answer")])
    inv = Invocation("u", session_tool_factory=session_factory(record, fail_post=fail_post, fail_cleanup=fail_cleanup))
    res = await make_executor(model, ports=Ports(audit=audit)).run(RunnableAgent("a"), inv, "go")
    assert res.status is RunStatus.OK and res.err is None and res.output == "answer"
    assert [c.status for c in audit.only().closes] == ["ok"]
    assert record["cleaned"] is True


async def test_consecutive_tool_error_guard_names_itself() -> None:
    model = ScriptedModel([call("fails", n=1), call("fails", n=2), call("fails", n=3), text("never")])
    res = await make_executor(model).run(AGENT, Invocation("u"), "x")
    assert isinstance(res.err, LoopGuardTripped) and res.err.guard == "consecutive_tool_errors"
    assert "consecutive_tool_errors" in str(res.err)
    assert len(model.requests) == 3 and len(res.steps) == 3


async def test_repeated_identical_call_guard_names_itself() -> None:
    model = ScriptedModel([call("echo", text="same")] * 3 + [text("never")])
    res = await make_executor(model).run(AGENT, Invocation("u"), "x")
    assert isinstance(res.err, LoopGuardTripped) and res.err.guard == "same_tool_call_repeats"
    # argument order does not hide a repeat: the signature is canonical
    assert tool_call("echo", '{"a":1,"b":2}').signature() == tool_call("echo", '{"b": 2, "a": 1}').signature()


async def test_step_ceiling_ends_with_a_tool_less_answer_and_is_recorded() -> None:
    audit = RecordingAudit()
    model = ScriptedModel([call("echo", text=str(i)) for i in range(3)] + [text("partial answer")])
    agent = RunnableAgent("a", tools=("echo",), max_iterations=3)
    res = await make_executor(model, ports=Ports(audit=audit)).run(agent, Invocation("u"), "x")
    assert res.status is RunStatus.OK and res.output == "partial answer" and res.ceiling_hit
    last = model.requests[-1]
    assert last.tools == [] and last.tool_choice == "none"
    assert "step limit" in last.messages[-1].content
    assert audit.only().closes[0].ceiling_hit is True


async def test_tool_calls_in_the_final_answer_are_dropped() -> None:
    model = ScriptedModel([call("echo", text="1"), calls(tool_call("echo", {"text": "2"}), content="best I have")])
    res = await make_executor(model).run(RunnableAgent("a", tools=("echo",), max_iterations=1), Invocation("u"), "x")
    assert res.output == "best I have" and res.ceiling_hit
    assert res.transcript[-1].role == "assistant" and not getattr(res.transcript[-1], "tool_calls")


async def test_delivery_of_output_and_of_error_is_best_effort() -> None:
    delivery = RecordingDelivery(fail=True)
    ok = await make_executor(ScriptedModel([text("hello")]), ports=Ports(delivery=delivery)).run(
        RunnableAgent("a"), Invocation("u", delivery_kind="thread", delivery_id="42"), "x"
    )
    assert ok.status is RunStatus.OK  # a failing delivery does not change the run
    bad = await make_executor(ScriptedModel([RuntimeError("down")]), ports=Ports(delivery=delivery)).run(
        RunnableAgent("a"), Invocation("u", delivery_kind="thread", delivery_id="42"), "x"
    )
    assert [r.output for _, r in delivery.delivered] == ["hello"]
    assert [(t.id, r.status) for t, r in delivery.errors] == [("42", RunStatus.ERROR)]
    assert bad.status is RunStatus.ERROR
    none = RecordingDelivery()
    await make_executor(ScriptedModel([text("x")]), ports=Ports(delivery=none)).run(RunnableAgent("a"), Invocation("u"), "x")
    assert none.delivered == []  # no target: the caller reads Result.output


async def test_budget_rejection_is_delivered_to_the_member() -> None:
    delivery = RecordingDelivery()
    ex = make_executor(ScriptedModel([]), ports=Ports(delivery=delivery, budget=RecordingBudget(reject="over budget")))
    await ex.run(RunnableAgent("a"), Invocation("u", delivery_kind="thread", delivery_id="7"), "x")
    assert [str(r.err) for _, r in delivery.errors] == ["over budget"]


async def test_step_events_and_run_state_follow_the_run() -> None:
    events: list[StepEvent] = []
    snapshots: list[Any] = []

    async def status(inv: Invocation, _args: dict[str, Any]) -> str:
        assert inv.run_state is not None
        snapshots.append(inv.run_state.snapshot())
        return "status"

    def on_step(ev: StepEvent) -> None:
        events.append(ev)
        if ev.kind == "tool_end":
            raise RuntimeError("observer bug must not fail the run")

    t = Tool("status", "s", status)
    model = ScriptedModel([call("status"), call("status"), text("done")])
    res = await make_executor(model, tools=(t,)).run(
        RunnableAgent("a", tools=("status",), max_iterations=5), Invocation("u", on_step=on_step), "x"
    )
    assert res.status is RunStatus.OK
    assert [e.kind for e in events] == ["model", "tool_start", "tool_end"] * 2 + ["model"]
    assert all(e.max_steps == 5 for e in events)
    assert [s.iteration for s in snapshots] == [0, 1] and snapshots[1].tool_calls == 1


async def test_hanging_tool_is_stopped_at_its_own_timeout() -> None:
    async def hang(inv: Invocation, args: dict[str, Any]) -> str:
        await asyncio.sleep(60)
        return "never"

    t = Tool("hang", "h", hang, timeout=0.05)
    model = ScriptedModel([call("hang"), text("moved on")])
    res = await make_executor(model, tools=(t,)).run(RunnableAgent("a", tools=("hang",)), Invocation("u"), "x")
    assert res.output == "moved on" and res.steps[0].is_error and "0.05" in res.steps[0].result


async def test_bad_tool_arguments_are_an_error_the_model_sees() -> None:
    req = Tool("req", "r", ECHO.handler, {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]})
    model = ScriptedModel(
        [calls(tool_call("req", "{not json")), calls(tool_call("req", "[1]")), calls(tool_call("req", "{}")), call("nosuch"), text("ok")]
    )
    res = await make_executor(model, tools=(req,), defaults=Defaults(max_consecutive_tool_errors=10)).run(
        RunnableAgent("a", tools=("req",)), Invocation("u"), "x"
    )
    assert res.status is RunStatus.OK
    assert ["not valid JSON" in res.steps[0].result, "JSON object" in res.steps[1].result] == [True, True]
    assert "missing required argument(s) text" in res.steps[2].result
    assert "no tool named 'nosuch'" in res.steps[3].result
