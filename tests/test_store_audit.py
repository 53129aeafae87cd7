"""The Audit port: run rows, steps, tool calls, events, once-only close,
rejected runs, interrupted runs at start-up, and admin run queries."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.store import BudgetRefused, Limit, LimitChange, Store, StoreClosedError, StoredStatus
from bot.store import writer as writer_module
from bot.store.bounded import TEXT_LIMIT, bounded, bounded_json
from bot.store.writer import target_table
from executor import RunnableAgent, RunStatus
from executor.llm.scripted import ScriptedModel, call, text
from executor.llm.types import AssistantMessage, ToolCall, Usage
from executor.ports import Audit, Budget, Ports, RunRecorder
from executor.tools.base import ToolResult
from executor.tools.invocation import Invocation
from tests.executor_kit import make_executor
from tests.databases import DatabaseUnderTest, one
from tests.store_helpers import FakeClock, run_info, stats

NOW = datetime(2025, 3, 5, 12, 0, 30, tzinfo=UTC)


def row(database: DatabaseUnderTest, sql: str, *params: Any) -> tuple[Any, ...]:
    return one(database, sql, *params)


async def test_a_run_from_start_to_close(database: DatabaseUnderTest) -> None:
    async with Store(database.url, clock=FakeClock(NOW)) as store:
        rec = await store.audit.start_run(run_info("r1"))
        assert row(database, "SELECT status, agent_id, caller_id, tier FROM runs WHERE run_id = 'r1'") == (
            "running",
            "helper",
            "u1",
            "fast",
        )
        call1 = ToolCall("c1", "echo", '{"text": "hi"}')
        await rec.on_step(0, AssistantMessage("thinking", (call1,), reasoning="why"), Usage(10, 5, 2, 1))
        await rec.on_tool(0, call1, ToolResult("echo:hi"))
        await rec.log_event("compaction_fired", {"before": 10, "after": 4})
        await rec.on_step(1, AssistantMessage("done"), Usage(12, 3))
        await rec.close(stats("ok", output="done", usage=Usage(22, 8, 2, 1), steps=2))

        detail = await store.runs.detail("r1")
    assert detail is not None
    run = detail.run
    assert (run.status, run.output, run.steps, run.tool_calls, run.runtime_seconds) == ("ok", "done", 2, 1, 2.5)
    assert run.usage == Usage(22, 8, 2, 1)
    assert run.finished_at == NOW
    assert [(s.step, s.content, s.tool_calls) for s in detail.steps] == [
        (0, "thinking", [{"id": "c1", "name": "echo"}]),
        (1, "done", []),
    ]
    assert detail.steps[0].usage == Usage(10, 5, 2, 1)
    assert [(c.call_id, c.name, c.arguments, c.result, c.is_error) for c in detail.tool_calls] == [
        ("c1", "echo", '{"text": "hi"}', "echo:hi", False)
    ]
    assert [(e.kind, e.data) for e in detail.events] == [("compaction_fired", {"before": 10, "after": 4})]


async def test_close_takes_effect_once(database: DatabaseUnderTest) -> None:
    async with Store(database.url) as store:
        rec = await store.audit.start_run(run_info("r1"))
        await rec.close(stats("timeout"))
        await rec.close(stats("ok", output="second close"))
        again = await store.audit.start_run(run_info("r2"))
        await again.close(stats("cancelled"))
    assert row(database, "SELECT status, output FROM runs WHERE run_id = 'r1'") == ("timeout", "done")
    assert row(database, "SELECT status FROM runs WHERE run_id = 'r2'") == ("cancelled",)


async def test_tool_text_is_bounded_with_a_marker(database: DatabaseUnderTest) -> None:
    huge = "é" * 20_000  # two bytes a character: the bound is in bytes
    async with Store(database.url) as store:
        rec = await store.audit.start_run(run_info("r1"))
        await rec.on_tool(0, ToolCall("c1", "echo", huge), ToolResult(huge, is_error=True))
        await rec.log_event("critic_nudge", {"message": huge})
        await rec.close(stats())
        detail = await store.runs.detail("r1")
    assert detail is not None
    stored = detail.tool_calls[0]
    for value in (stored.arguments, stored.result):
        assert len(value.encode("utf-8")) <= TEXT_LIMIT
        assert value.startswith("éé") and value.endswith("[truncated: 40000 bytes in all]")
    assert detail.events[0].data["truncated"] is True
    assert bounded("short") == "short"
    assert len(bounded_json({"k": "\x01" * 50_000}).encode("utf-8")) <= TEXT_LIMIT


async def test_events_take_values_json_cannot_encode(database: DatabaseUnderTest) -> None:
    async with Store(database.url) as store:
        rec = await store.audit.start_run(run_info("r1"))
        await rec.log_event("critic_extend", {"at": NOW, "steps": 3})
        await rec.close(stats())
        detail = await store.runs.detail("r1")
    assert detail is not None
    assert detail.events[0].data == {"at": str(NOW), "steps": 3}


async def test_runs_left_running_are_interrupted_at_the_next_start(database: DatabaseUnderTest) -> None:
    async with Store(database.url, clock=FakeClock(NOW)) as store:
        rec = await store.audit.start_run(run_info("left"))
        await rec.on_step(0, AssistantMessage("", (ToolCall("a", "echo"),)), Usage(10, 5))
        await rec.on_tool(0, ToolCall("a", "echo"), ToolResult("ok"))
        await rec.on_step(1, AssistantMessage("", (ToolCall("b", "echo"),)), Usage(7, 2))
        done = await store.audit.start_run(run_info("done"))
        await done.close(stats())
        # The store closes with "left" never closed, as a dying process would.
    async with Store(database.url) as store:
        assert store.recovery.interrupted_runs == 1
        detail = await store.runs.detail("left")
        assert detail is not None
        assert detail.run.status == "interrupted"
        assert (detail.run.steps, detail.run.tool_calls, detail.run.usage) == (2, 1, Usage(17, 7))
        assert detail.run.runtime_seconds == pytest.approx(30.0, abs=0.01)  # started 12:00:00, last step 12:00:30
        assert detail.run.finished_at is not None
        finished = await store.runs.detail("done")
        assert finished is not None and finished.run.status == "ok"
    async with Store(database.url) as store:
        assert store.recovery.interrupted_runs == 0


async def test_queued_writes_survive_a_normal_shutdown(database: DatabaseUnderTest) -> None:
    async with Store(database.url) as store:
        recs = [await store.audit.start_run(run_info(f"r{i}")) for i in range(5)]
        for step in range(200):
            for rec in recs:
                await rec.on_step(step, AssistantMessage(f"step {step}"), Usage(1, 1))
                await rec.log_event("tick", {"step": step})
    assert row(database, "SELECT COUNT(*) FROM steps") == (1000,)
    assert row(database, "SELECT COUNT(*) FROM events") == (1000,)


async def test_a_bad_queued_write_does_not_sink_its_batch(database: DatabaseUnderTest) -> None:
    async with Store(database.url, durable_runs=False) as store:  # steps queued, not awaited
        rec = await store.audit.start_run(run_info("r1"))
        ghost = await store.audit.start_run(run_info("ghost"))
        database.rows("DELETE FROM runs WHERE run_id = 'ghost'")
        for step in range(50):
            await rec.on_step(step, AssistantMessage("fine"), Usage(1, 1))
            await ghost.on_step(step, AssistantMessage("orphan"), Usage(1, 1))  # violates the foreign key
        await rec.close(stats())
    assert row(database, "SELECT COUNT(*) FROM steps WHERE run_id = 'r1'") == (50,)
    assert row(database, "SELECT COUNT(*) FROM steps WHERE run_id = 'ghost'") == (0,)


async def test_rejections_are_recorded_for_admins(database: DatabaseUnderTest) -> None:
    async with Store(database.url) as store:
        await store.audit.record_rejection(run_info("r9"), "runs limit reached: 0 of 0 per day")
        detail = await store.runs.detail("r9")
    assert detail is not None
    run = detail.run
    assert (run.status, run.error, run.caller_id, run.agent_id, run.tier) == (
        StoredStatus.REJECTED,
        "runs limit reached: 0 of 0 per day",
        "u1",
        "helper",
        "fast",
    )
    assert run.input == "input of r9" and run.finished_at is not None
    assert [(e.kind, e.data) for e in detail.events] == [
        ("budget_rejected", {"agent_id": "helper", "message": "runs limit reached: 0 of 0 per day"})
    ]


async def test_a_budget_refusal_reaches_the_audit_through_the_executor(database: DatabaseUnderTest) -> None:
    """The store's budget refuses, the executor records the refusal through
    the Audit port: a ``rejected`` row, with what the run was asked."""
    async with Store(database.url) as store:
        await store.budget.set_limits("g1", None, [LimitChange(Limit.RUNS, 0)])
        model = ScriptedModel([text("never")])
        executor = make_executor(model, ports=Ports(budget=store.budget, audit=store.audit))
        res = await executor.run(RunnableAgent("helper"), Invocation("u1", guild_id="g1"), "draw me a chart")
        detail = await store.runs.detail(res.run_id)
    assert isinstance(res.err, BudgetRefused) and res.err.refusal.limit is Limit.RUNS
    assert model.requests == []
    assert detail is not None
    assert (detail.run.status, detail.run.input, detail.run.error) == (
        StoredStatus.REJECTED,
        "draw me a chart",
        str(res.err),
    )
    assert [e.kind for e in detail.events] == ["budget_rejected"]


async def test_run_lists_newest_first_by_member_and_guild(database: DatabaseUnderTest) -> None:
    clock = FakeClock(NOW)
    async with Store(database.url, clock=clock) as store:
        for i, caller in enumerate(["u1", "u2", "u1", "u1"]):
            info = run_info(f"r{i}", caller=caller, started_at=NOW.replace(minute=i))
            await (await store.audit.start_run(info)).close(stats())
        await (await store.audit.start_run(run_info("other", guild="g2"))).close(stats())
        assert [r.run_id for r in await store.runs.recent("g1")] == ["r3", "r2", "r1", "r0"]
        assert [r.run_id for r in await store.runs.recent("g1", "u1", limit=2)] == ["r3", "r2"]
        assert [r.run_id for r in await store.runs.recent("g2")] == ["other"]
        assert await store.runs.detail("other", guild_id="g1") is None
        assert await store.runs.detail("other", guild_id="g2") is not None
        assert await store.runs.detail("missing") is None


async def test_the_store_serves_the_executor_ports(database: DatabaseUnderTest) -> None:
    """The real executor, audited and budgeted by the store."""
    async with Store(database.url) as store:
        audit: Audit = store.audit
        budget: Budget = store.budget
        recorder: RunRecorder = await store.audit.start_run(run_info("typed"))
        await recorder.close(stats())
        model = ScriptedModel(
            [call("echo", text="hi", usage=Usage(7, 3, requests=1)), text("all done", Usage(9, 4, requests=1))]
        )
        executor = make_executor(model, ports=Ports(budget=budget, audit=audit))
        res = await executor.run(RunnableAgent("helper", tools=("echo",)), Invocation("u1", guild_id="g1"), "say hi")
        assert res.status is RunStatus.OK
        detail = await store.runs.detail(res.run_id)
        usage = await store.budget.usage("g1", "u1")
    assert detail is not None
    assert (detail.run.status, detail.run.output, detail.run.tool_calls) == ("ok", "all done", 1)
    assert detail.run.steps == len(detail.steps) >= 1
    assert [c.result for c in detail.tool_calls] == ["echo:hi"]
    assert detail.run.usage.total_tokens == 23
    assert (usage.running, usage.periods[next(iter(usage.periods))].spent.tokens) == (0, 23)


async def test_close_commits_the_writes_of_callers_waiting_for_room(
    database: DatabaseUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "MAX_PENDING", 4)
    store = await Store.open(database.url)
    rec = await store.audit.start_run(run_info("r1"))
    steps = [asyncio.create_task(rec.on_step(n, AssistantMessage(f"s{n}"), Usage(1, 1))) for n in range(50)]
    await asyncio.sleep(0)  # every task has queued its step or is waiting for room
    await store.close()
    await asyncio.gather(*steps)
    assert row(database, "SELECT COUNT(*) FROM steps") == (50,)
    with pytest.raises(StoreClosedError):
        await rec.on_step(99, AssistantMessage("too late"), Usage())


def test_the_writer_refuses_statements_it_cannot_order() -> None:
    assert target_table("INSERT OR REPLACE INTO steps (a) VALUES (?)") == "steps"
    assert target_table("  update runs SET x = 1") == "runs"
    assert target_table("DELETE FROM budget_ledger") == "budget_ledger"
    with pytest.raises(ValueError, match="only INSERT, UPDATE and DELETE"):
        target_table("SELECT * FROM runs")
