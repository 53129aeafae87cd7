"""Audit/budget exactly once, steps, steering, PostRun order and bounds, guards, ceiling,
delivery, and the caller's Invocation left unchanged."""

from __future__ import annotations

import asyncio
from dataclasses import FrozenInstanceError, replace
from typing import Any

import pytest

import executor.run
from executor import Defaults, RunnableAgent, RunStatus
from executor.errors import LoopGuardTripped
from executor.hooks import zip_steps
from executor.llm.scripted import ScriptedModel, call, calls, text, tool_call
from executor.llm.types import Image, Message, UserMessage
from executor.ports import CriticDecision, Ports
from executor.tools.base import Tool, ToolResult
from executor.tools.builtin.status import RUN_STATUS
from executor.tools.invocation import AttachedFile, Invocation, StepEvent
from executor.tools.session import Artifact, PostRunResult, RunSession, SessionTools
from tests.executor_kit import ECHO, finishes, make_executor
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
    # The model's response is recorded before its tool runs (the checkpoint);
    # a tool cut off mid-call has no result recorded.
    assert len(run.steps) == 1
    assert len(run.tools) == (0 if path in ("timeout", "cancelled", "killed") else 1)
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
    res = await make_executor(model).run(RunnableAgent("a"), Invocation("u"), "go", session_factory(record))
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
    factory = session_factory(record, fail_post=fail_post, fail_cleanup=fail_cleanup)
    res = await make_executor(model, ports=Ports(audit=audit)).run(RunnableAgent("a"), Invocation("u"), "go", factory)
    assert res.status is RunStatus.OK and res.err is None and res.output == "answer"
    assert [c.status for c in audit.only().closes] == ["ok"]
    assert record["cleaned"] is True


def assert_answered_without_tools(model: ScriptedModel, note: str) -> None:
    last = model.requests[-1]
    assert last.tools == [] and last.tool_choice == "none"
    assert note in last.messages[-1].content


async def test_consecutive_tool_errors_stop_tools_and_the_model_still_answers() -> None:
    audit = RecordingAudit()
    model = ScriptedModel([call("fails", n=1), call("fails", n=2), call("fails", n=3), text("best I could do")])
    res = await make_executor(model, ports=Ports(audit=audit)).run(AGENT, Invocation("u"), "x")
    assert isinstance(res.err, LoopGuardTripped) and res.err.guard == "consecutive_tool_errors"
    assert res.status is RunStatus.ERROR and res.output == "best I could do" and not res.ceiling_hit
    assert len(model.requests) == 4 and len(res.steps) == 3
    assert_answered_without_tools(model, "3 tool calls in a row failed")
    closed = audit.only().closes
    assert [(c.status, c.output) for c in closed] == [("error", "best I could do")]
    assert "consecutive_tool_errors" in closed[0].error  # the audit says why tools were stopped


async def test_a_retry_storm_trips_the_repeat_guard_and_the_model_still_answers() -> None:
    audit = RecordingAudit()
    model = ScriptedModel([call("echo", text="same")] * 3 + [text("what I have")])
    res = await make_executor(model, ports=Ports(audit=audit)).run(AGENT, Invocation("u"), "x")
    assert isinstance(res.err, LoopGuardTripped) and res.err.guard == "same_tool_call_repeats"
    assert res.status is RunStatus.ERROR and res.output == "what I have" and len(res.steps) == 3
    assert_answered_without_tools(model, "3 turns in a row")
    assert "same_tool_call_repeats" in audit.only().closes[0].error
    # argument order does not hide a repeat: the signature is canonical
    assert tool_call("echo", '{"a":1,"b":2}').signature() == tool_call("echo", '{"b": 2, "a": 1}').signature()


async def test_the_same_parallel_turn_over_and_over_is_a_storm() -> None:
    turn = [calls(tool_call("echo", {"text": "a"}), tool_call("echo", {"text": "b"})) for _ in range(3)]
    model = ScriptedModel([*turn, text("stopped")])
    res = await make_executor(model).run(AGENT, Invocation("u"), "x")
    assert isinstance(res.err, LoopGuardTripped) and res.err.guard == "same_tool_call_repeats"
    assert res.output == "stopped" and len(res.steps) == 6


async def test_a_call_repeated_between_other_calls_is_not_a_storm() -> None:
    """The researcher checks run_status now and then between other calls. A
    repeat only counts while the model makes nothing else in between; changed
    arguments reset the count too."""
    model = ScriptedModel(
        [
            call("run_status"), call("echo", text="a"), call("run_status"), call("echo", text="b"),
            call("run_status"), call("echo", text="a"), call("echo", text="a"), call("echo", text="b"),
            call("echo", text="a"), call("echo", text="a"), call("run_status"), text("done"),
        ]
    )
    agent = RunnableAgent("a", tools=("echo", "run_status"), max_iterations=20)
    res = await make_executor(model, tools=(ECHO, RUN_STATUS)).run(agent, Invocation("u"), "x")
    assert res.status is RunStatus.OK and res.err is None
    assert res.output == "done" and len(res.steps) == 11 and not any(s.is_error for s in res.steps)


async def test_a_failing_answer_after_a_guard_leaves_the_guard_as_the_error() -> None:
    model = ScriptedModel([call("echo", text="same")] * 3 + [RuntimeError("provider down")])
    res = await make_executor(model).run(AGENT, Invocation("u"), "x")
    assert isinstance(res.err, LoopGuardTripped) and res.output == "" and len(model.requests) == 4


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


def journaling_factory(journal: list[str], post_run_hangs: asyncio.Event | None = None) -> Any:
    """A session whose PostRun and Cleanup note themselves in ``journal``.
    With ``post_run_hangs``, PostRun never returns; the event is set when it
    is stopped."""

    def factory(session: RunSession) -> SessionTools:
        async def post_run(transcript: list[Message], output: str, err: BaseException | None) -> PostRunResult:
            if post_run_hangs is not None:
                try:
                    await asyncio.Event().wait()
                finally:
                    post_run_hangs.set()
            journal.append("post_run")
            return PostRunResult()

        async def cleanup() -> None:
            journal.append("cleanup")

        return SessionTools([], post_run, cleanup)

    return factory


def journaled_ports(journal: list[str]) -> Ports:
    return Ports(
        audit=RecordingAudit(journal=journal),
        budget=RecordingBudget(journal=journal),
        delivery=RecordingDelivery(journal=journal),
    )


async def test_post_run_steps_follow_the_seed_and_cleanup_runs_last() -> None:
    journal: list[str] = []
    inv = Invocation("u", delivery_kind="thread", delivery_id="1")
    res = await make_executor(ScriptedModel([text("answer")]), ports=journaled_ports(journal)).run(
        RunnableAgent("a"), inv, "x", journaling_factory(journal)
    )
    assert res.status is RunStatus.OK
    assert journal == ["post_run", "audit close", "budget commit", "deliver", "cleanup"]


async def test_a_hanging_post_run_is_bounded_like_the_other_post_run_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor.run, "CLEANUP_TIMEOUT", 0.1)
    journal: list[str] = []
    stopped = asyncio.Event()
    factory = journaling_factory(journal, post_run_hangs=stopped)
    inv = Invocation("u", delivery_kind="thread", delivery_id="1")
    ex = make_executor(ScriptedModel([text("answer")]), ports=journaled_ports(journal))
    res = await finishes(ex.run(RunnableAgent("a"), inv, "x", factory))
    assert res.status is RunStatus.OK and res.output == "answer" and res.post_run_result is None
    assert stopped.is_set()  # the hook was stopped, not left running
    assert journal == ["audit close", "budget commit", "deliver", "cleanup"]


async def test_the_callers_invocation_is_not_changed_so_it_can_be_reused() -> None:
    inv = Invocation("u")
    before = replace(inv)
    model = ScriptedModel([call("run_status"), text("one"), call("run_status"), text("two")])
    ex = make_executor(model, tools=(RUN_STATUS,))
    agent = RunnableAgent("a", tools=("run_status",))
    first = await ex.run(agent, inv, "first")
    assert inv == before  # no input, run_state, attach_images or on_activity left behind
    second = await ex.run(agent, inv, "second")
    assert (first.output, second.output) == ("one", "two")
    assert second.steps[0].result.startswith("step 0 of")  # its own fresh state, not the first run's
    assert inv == before and inv.cancel is before.cancel


def test_an_invocation_is_built_once_complete() -> None:
    """Frozen: what a run is given (history, on_step, attachments...) is set
    when the Invocation is built; a delegated run's is built from it."""
    inv = Invocation("u", history=[UserMessage("earlier")], attachments=(AttachedFile("a.png", "https://x/a.png"),))
    with pytest.raises(FrozenInstanceError):
        inv.on_step = print  # type: ignore[misc]
    child = inv.child({"topic": "cats"})
    assert (child.parent_run_id, child.depth, dict(child.skill_inputs)) == (inv.run_id, 1, {"topic": "cats"})
    assert child.attachments == inv.attachments and child.history == () and child.cancel is inv.cancel


async def test_concurrent_runs_of_one_invocation_keep_their_own_state() -> None:
    b_started = asyncio.Event()

    async def a_first(messages: list[Message], tools: list[Any]) -> Any:
        await b_started.wait()  # b has started (and, before the fix, taken over the invocation)
        return call("run_status")

    def b_first(messages: list[Message], tools: list[Any]) -> Any:
        b_started.set()
        return call("run_status")

    inv = Invocation("u")
    ex_a = make_executor(ScriptedModel([a_first, text("a")]), tools=(RUN_STATUS,))
    ex_b = make_executor(ScriptedModel([b_first, text("b")]), tools=(RUN_STATUS,))
    ra, rb = await asyncio.gather(
        ex_a.run(RunnableAgent("a", tools=("run_status",), max_iterations=5), inv, "a"),
        ex_b.run(RunnableAgent("b", tools=("run_status",), max_iterations=9), inv, "b"),
    )
    assert "of at most 5" in ra.steps[0].result and "of at most 9" in rb.steps[0].result


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
