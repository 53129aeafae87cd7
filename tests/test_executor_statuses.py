"""Run statuses, the never-raise contract and cancellation."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

import executor.run
import executor.tasks
from executor import Config, Defaults, Executor, RunnableAgent, RunStatus
from executor.errors import (
    BudgetExceeded,
    ExecutorError,
    ModelResolutionError,
    RunCancelled,
    RunTimeout,
    ToolboxError,
)
from executor.llm.scripted import ScriptedModel, call, text
from executor.llm.types import Usage
from executor.ports import Ports, Spend
from executor.tools.base import Tool
from executor.tools.invocation import Invocation
from executor.tools.registry import Registry
from tests.executor_kit import finishes, make_executor
from tests.fakes.memory_ports import RecordingAudit, RecordingBudget

AGENT = RunnableAgent("helper", tools=("echo", "boom", "slow", "fails"))


async def test_ok_run_returns_output_steps_and_usage() -> None:
    model = ScriptedModel([call("echo", text="hi", usage=Usage(7, 3, requests=1)), text("done", Usage(9, 4, requests=1))])
    res = await make_executor(model).run(AGENT, Invocation("u1"), "say hi")
    assert res.status is RunStatus.OK and res.err is None and res.ok
    assert res.output == "done"
    assert [(s.tool, s.result) for s in res.steps] == [("echo", "echo:hi")]
    assert res.usage == Usage(16, 7, requests=2)


async def test_model_error_ends_as_error_with_partial_steps_and_usage() -> None:
    model = ScriptedModel([call("echo", text="a", usage=Usage(5, 5, requests=1)), RuntimeError("provider down")])
    res = await make_executor(model).run(AGENT, Invocation("u1"), "x")
    assert res.status is RunStatus.ERROR
    assert isinstance(res.err, RuntimeError) and "provider down" in str(res.err)
    assert [s.tool for s in res.steps] == ["echo"]
    assert res.usage.input_tokens == 5


async def test_max_runtime_is_timeout_even_under_a_longer_caller_deadline() -> None:
    model = ScriptedModel([call("slow", seconds=30)])
    agent = RunnableAgent("helper", tools=("slow",), max_runtime=0.2)
    async with asyncio.timeout(20):  # the caller's own, longer deadline
        res = await make_executor(model).run(agent, Invocation("u1"), "x")
    assert res.status is RunStatus.TIMEOUT
    assert isinstance(res.err, RunTimeout)


async def test_the_time_limit_starts_when_the_run_starts_working() -> None:
    """A busy budget store and a slow resolver take longer than the whole
    max_runtime; the run still gets all of it once it starts working."""
    model = ScriptedModel([text("ok")], delay=0.05)  # the model call takes real time

    class SlowBudget(RecordingBudget):
        async def check(self, invocation: Invocation, agent_id: str) -> None:
            await asyncio.sleep(0.4)
            await super().check(invocation, agent_id)

    def slow_resolver(tier: str) -> ScriptedModel:
        time.sleep(0.2)  # resolvers are synchronous; this one is slow
        return model

    budget = SlowBudget()
    ex = Executor(Config(registry=Registry(), models=slow_resolver, ports=Ports(budget=budget)))
    res = await ex.run(RunnableAgent("helper", max_runtime=0.5), Invocation("u1"), "x")
    assert res.status is RunStatus.OK and res.output == "ok"
    assert [s.status for _, s in budget.commits] == ["ok"]


async def test_cancel_handle_gives_cancelled_result() -> None:
    model = ScriptedModel([call("slow", seconds=30)])
    inv = Invocation("u1")
    ex = make_executor(model)
    task = asyncio.create_task(ex.run(AGENT, inv, "x"))
    while not model.requests:
        await asyncio.sleep(0.01)
    inv.cancel.cancel("member pressed Cancel")
    res = await task
    assert res.status is RunStatus.CANCELLED
    assert isinstance(res.err, RunCancelled) and "Cancel" in str(res.err)


async def test_caller_cancellation_records_cancelled_and_reraises() -> None:
    audit, budget = RecordingAudit(), RecordingBudget()
    model = ScriptedModel([call("slow", seconds=30)])
    ex = make_executor(model, ports=Ports(audit=audit, budget=budget))
    task = asyncio.create_task(ex.run(AGENT, Invocation("u1"), "x"))
    while not model.requests:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = audit.only()
    assert [c.status for c in run.closes] == ["cancelled"]
    assert [s.status for _, s in budget.commits] == ["cancelled"]


async def test_rejected_budget_makes_no_model_call() -> None:
    model = ScriptedModel([text("never")])
    budget, audit = RecordingBudget(reject="You have used 3 of 3 runs today."), RecordingAudit()
    res = await make_executor(model, ports=Ports(budget=budget, audit=audit)).run(AGENT, Invocation("u1"), "x")
    assert isinstance(res.err, BudgetExceeded) and "3 of 3" in str(res.err)
    assert res.status is RunStatus.ERROR
    assert model.requests == []
    assert budget.commits == [] and audit.runs == {}
    assert budget.inputs == ["x"]  # the port sees what the refused run asked
    # The refusal reaches the audit through the Audit port, as a run that never started.
    [(info, reason)] = audit.rejections
    assert (info.run_id, info.agent_id, info.input, info.model) == (res.run_id, AGENT.id, "x", "")
    assert reason == "You have used 3 of 3 runs today."


async def test_a_failed_budget_check_is_not_recorded_as_a_rejection() -> None:
    class Broken:
        async def check(self, invocation: Invocation, agent_id: str) -> None:
            raise RuntimeError("ledger unreachable")

        async def commit(self, invocation: Invocation, spend: Spend) -> None:
            raise AssertionError("a refused run has nothing to commit")

    audit = RecordingAudit()
    res = await make_executor(ScriptedModel([text("never")]), ports=Ports(budget=Broken(), audit=audit)).run(
        AGENT, Invocation("u1"), "x"
    )
    assert res.status is RunStatus.ERROR and "budget check failed" in str(res.err)
    assert audit.rejections == [] and audit.runs == {}


async def test_resolver_returning_none_is_a_clean_error() -> None:
    budget = RecordingBudget()
    res = await make_executor(None, ports=Ports(budget=budget)).run(AGENT, Invocation("u1"), "x")
    assert isinstance(res.err, ModelResolutionError)
    assert "fast" in str(res.err)
    assert len(budget.commits) == 1  # the reservation is released


async def test_resolver_raising_is_a_clean_error() -> None:
    def resolver(tier: str) -> None:
        raise KeyError(tier)

    ex = Executor(Config(registry=Registry(), models=resolver))
    res = await ex.run(RunnableAgent("a", tier="smart"), Invocation("u1"), "x")
    assert isinstance(res.err, ModelResolutionError) and "smart" in str(res.err)


async def test_unknown_tool_fails_before_any_model_call() -> None:
    model = ScriptedModel([text("never")])
    audit = RecordingAudit()
    res = await make_executor(model, ports=Ports(audit=audit)).run(
        RunnableAgent("a", tools=("nope",)), Invocation("u1"), "x"
    )
    assert isinstance(res.err, ToolboxError) and "nope" in str(res.err)
    assert model.requests == []
    assert [c.status for c in audit.only().closes] == ["error"]


async def test_raising_tool_becomes_an_error_result_the_model_reads() -> None:
    model = ScriptedModel([call("boom"), text("recovered")])
    res = await make_executor(model).run(AGENT, Invocation("u1"), "x")
    assert res.status is RunStatus.OK and res.output == "recovered"
    tool_msg = model.requests[1].messages[-1]
    assert tool_msg.role == "tool" and "tool exploded" in tool_msg.content
    assert res.steps[0].is_error


async def test_raising_audit_port_ends_in_result_err_not_an_exception() -> None:
    model = ScriptedModel([text("x")])
    budget = RecordingBudget()
    res = await make_executor(model, ports=Ports(audit=RecordingAudit(fail_start=True), budget=budget)).run(
        AGENT, Invocation("u1"), "x"
    )
    assert res.status is RunStatus.ERROR and "audit store is down" in str(res.err)
    assert len(budget.commits) == 1


async def test_defaults_take_go_fallbacks() -> None:
    d = Defaults(0, 0, "", 0, 0, 0, 0, 0).with_fallbacks()
    assert (d.max_iterations, d.max_runtime, d.fallback_tier) == (12, 60.0, "fast")
    assert (d.max_consecutive_tool_errors, d.max_same_tool_call_repeats) == (3, 3)
    assert (d.compaction_threshold_ratio, d.critic_soft_timeout) == (0.7, 90.0)
    custom = Defaults(max_iterations=5, fallback_tier="smart").with_fallbacks()
    assert (custom.max_iterations, custom.fallback_tier) == (5, "smart")


async def test_agent_values_win_over_defaults() -> None:
    tiers: list[str] = []
    model = ScriptedModel([text("x")])

    def resolver(tier: str) -> ScriptedModel:
        tiers.append(tier)
        return model

    audit = RecordingAudit()
    ex = Executor(Config(registry=Registry(), models=resolver, ports=Ports(audit=audit)))
    await ex.run(RunnableAgent("a", tier="smart", max_iterations=4), Invocation("u1"), "x")
    await ex.run(RunnableAgent("b"), Invocation("u1"), "x")
    assert tiers == ["smart", "fast"]
    assert sorted(r.info.max_iterations for r in audit.runs.values()) == [4, 12]


async def test_system_header_prepended() -> None:
    model = ScriptedModel([text("x"), text("y")])
    ex = make_executor(model, system_header="HEADER")
    await ex.run(RunnableAgent("a", system_prompt="AGENT"), Invocation("u1"), "x")
    await ex.run(RunnableAgent("b"), Invocation("u1"), "x")
    assert model.requests[0].messages[0].content == "HEADER\n\nAGENT"
    assert model.requests[1].messages[0].content == "HEADER"


async def test_caller_cancelled_during_audit_close_still_commits_the_budget() -> None:
    budget = RecordingBudget()
    closing, release = asyncio.Event(), asyncio.Event()

    class SlowCloseAudit(RecordingAudit):
        async def start_run(self, info: Any) -> Any:
            run = await super().start_run(info)
            plain_close = run.close

            async def slow_close(stats: Any) -> None:
                closing.set()
                await release.wait()
                await plain_close(stats)

            run.close = slow_close  # type: ignore[method-assign]
            return run

    audit = SlowCloseAudit()
    ex = make_executor(ScriptedModel([text("done")]), ports=Ports(audit=audit, budget=budget))
    task = asyncio.create_task(ex.run(AGENT, Invocation("u"), "x"))
    await closing.wait()
    task.cancel()  # the run itself finished; its audit close is in progress
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await asyncio.wait_for(budget.committed.wait(), 10)  # the shielded finish completes in the background
    assert [c.status for c in audit.only().closes] == ["ok"]
    assert [s.status for _, s in budget.commits] == ["ok"]


# -- CancelledError that is not the caller's --------------------------------


async def raise_cancelled(_inv: Invocation, _args: dict[str, Any]) -> str:
    raise asyncio.CancelledError  # e.g. a library cancelling its own sub-task and leaking it


async def test_a_tool_raising_cancelled_error_is_that_tools_error() -> None:
    tool = Tool("leaky", "raises CancelledError by itself", raise_cancelled)
    model = ScriptedModel([call("leaky"), text("went on")])
    res = await make_executor(model, tools=(tool,)).run(RunnableAgent("a", tools=("leaky",)), Invocation("u"), "x")
    assert res.status is RunStatus.OK and res.output == "went on"
    assert res.steps[0].is_error and "cancelled from inside the tool" in res.steps[0].result


async def test_a_provider_raising_cancelled_error_is_the_runs_error() -> None:
    audit, budget = RecordingAudit(), RecordingBudget()
    model = ScriptedModel([call("echo", text="a"), asyncio.CancelledError()])
    res = await make_executor(model, ports=Ports(audit=audit, budget=budget)).run(AGENT, Invocation("u"), "x")
    assert res.status is RunStatus.ERROR and isinstance(res.err, ExecutorError)
    assert "cancelled from inside" in str(res.err) and [s.tool for s in res.steps] == ["echo"]
    assert [c.status for c in audit.only().closes] == ["error"]
    assert [s.status for _, s in budget.commits] == ["error"]


async def test_a_port_raising_cancelled_error_is_the_runs_error() -> None:
    class LeakyAudit(RecordingAudit):
        async def start_run(self, info: Any) -> Any:
            raise asyncio.CancelledError

    class LeakyBudget(RecordingBudget):
        async def check(self, invocation: Invocation, agent_id: str) -> None:
            raise asyncio.CancelledError

    budget = RecordingBudget()
    res = await make_executor(ScriptedModel([text("x")]), ports=Ports(audit=LeakyAudit(), budget=budget)).run(
        AGENT, Invocation("u"), "x"
    )
    assert res.status is RunStatus.ERROR and "cancelled from inside" in str(res.err)
    assert len(budget.commits) == 1
    refused = await make_executor(ScriptedModel([text("x")]), ports=Ports(budget=LeakyBudget())).run(
        AGENT, Invocation("u"), "x"
    )
    assert refused.status is RunStatus.ERROR and "budget check failed" in str(refused.err)


def stubborn_tool(release: asyncio.Event, timeout: float) -> Tool:
    """A handler that swallows every cancellation until ``release`` is set."""

    async def stubborn(_inv: Invocation, _args: dict[str, Any]) -> str:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue
        return "too late"

    return Tool("stubborn", "ignores cancellation", stubborn, timeout=timeout)


@pytest.mark.parametrize(
    ("tool_timeout", "max_runtime", "status"),
    [(0.05, 60.0, RunStatus.OK), (60.0, 0.1, RunStatus.TIMEOUT)],
    ids=["the tool's timeout", "the run's timeout"],
)
async def test_a_tool_swallowing_cancellation_does_not_hold_the_run(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tool_timeout: float,
    max_runtime: float,
    status: RunStatus,
) -> None:
    monkeypatch.setattr(executor.tasks, "CANCEL_GRACE", 0.05)
    release = asyncio.Event()
    model = ScriptedModel([call("stubborn"), text("moved on")])
    ex = make_executor(model, tools=(stubborn_tool(release, tool_timeout),))
    agent = RunnableAgent("a", tools=("stubborn",), max_runtime=max_runtime)
    try:
        with caplog.at_level(logging.WARNING, logger="executor.tasks"):
            res = await finishes(ex.run(agent, Invocation("u"), "x"))
    finally:
        release.set()
    assert res.status is status
    assert "tool 'stubborn' ignored cancellation" in caplog.text
    if status is RunStatus.OK:
        assert res.output == "moved on" and res.steps[0].is_error and "did not finish within" in res.steps[0].result


async def test_a_provider_swallowing_cancellation_does_not_hold_the_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(executor.run, "CLEANUP_TIMEOUT", 0.1)
    release = asyncio.Event()

    async def stubborn(messages: list[Any], tools: list[Any]) -> Any:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue
        return text("too late")

    budget = RecordingBudget()
    ex = make_executor(ScriptedModel([stubborn]), ports=Ports(budget=budget))
    try:
        with caplog.at_level(logging.WARNING, logger="executor.tasks"):
            res = await finishes(ex.run(RunnableAgent("a", max_runtime=0.1), Invocation("u"), "x"))
    finally:
        release.set()
    assert res.status is RunStatus.TIMEOUT and [s.status for _, s in budget.commits] == ["timeout"]
    assert "loop ignored cancellation" in caplog.text
