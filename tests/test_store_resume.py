"""Durable runs on the store: a run's rows come back as its RunRecord and
ResumeRequest (images by reference), and at start-up a gone process's
resumable runs are taken over to resume, left for a bot, or interrupted,
as the opening process says."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store import ResumeRequest, Store, StoredStatus
from bot.store.recovery import MAX_RESUMES
from executor import CompactionEdit, StepContext
from executor.llm import AssistantMessage, Image, ToolCall, ToolResultMessage, Usage, UserMessage
from executor.tools import AttachedFile, Invocation, ToolResult
from tests.databases import DatabaseUnderTest, one
from tests.store_helpers import FakeClock, run_info, stats

PNG = Image(b"\x89PNG\r\n\x1a\n" + b"p" * 64, "image/png", "chart.png")
REQUEST = ResumeRequest(
    agent_id="helper",
    caller_id="u1",
    guild_id="g1",
    thread_id="t1",
    prompt="draw it " + "x" * 9000,  # beyond what the audit columns keep
    images=(PNG,),
    attachments=(AttachedFile("a.png", "https://cdn.example/a.png", "image/png", 72),),
    session_tools=("render_chart",),
    caller_roles=("111", "222"),
)
CALL = ToolCall("c1", "render_chart", '{"kind": "bar"}')
STEP = AssistantMessage("let me draw " + "y" * 9000, (CALL,), "because", "sig")
CONTEXT = StepContext(
    steer=(UserMessage("Image(s) attached by a tool.", (PNG,)),),
    compaction=CompactionEdit(1, 2, (UserMessage("[Summary] earlier"),), Usage(7, 3)),
    ceiling=15,
    elapsed=4.25,
)
RESULT = ToolResult("drawn " + "z" * 9000, False, (PNG,))


async def start_durable_run(database: DatabaseUnderTest, run_id: str = "r1") -> None:
    """A process ``gone`` starts a run, records a step and its tool result,
    and stops without finishing it (as if killed: its owner is gone)."""
    async with Store(database.url, executor_id="gone") as store:
        await store.budget.check(Invocation("u1", run_id=run_id, guild_id="g1"), "helper")
        with store.audit.progress_shown(run_id, "555", REQUEST):
            rec = await store.audit.start_run(run_info(run_id))
        await rec.on_step(0, STEP, Usage(100, 20, cost_micros=1_500), context=CONTEXT)
        await rec.on_tool(0, CALL, RESULT, elapsed=5.5)
        unpriced = Usage(1, 1, unpriced_calls=1)
        await rec.on_step(1, AssistantMessage("", (ToolCall("c2", "render_chart"),)), unpriced)


async def test_a_gone_process_s_run_is_taken_over_with_its_record(database: DatabaseUnderTest) -> None:
    await start_durable_run(database)
    async with Store(database.url, executor_id="next", takeover="resume") as store:
        assert store.recovery.resumed == ("r1",) and store.recovery.interrupted_runs == 0
        [run] = await store.runs.resumable(store.recovery.resumed)
    assert (run.run_id, run.agent_name, run.progress_message_id) == ("r1", "Helper", "555")
    assert run.request == REQUEST
    step = run.record.steps[0]
    assert (step.message, step.usage, step.context) == (STEP, Usage(100, 20, cost_micros=1_500), CONTEXT)
    assert run.record.results == {(0, "c1"): RESULT}  # c2 was cut off: no result
    assert sorted(run.record.steps) == [0, 1] and run.record.ceiling == 0
    assert run.record.elapsed == 5.5
    # The run stays running, now this process's, with its reservation.
    assert one(database, "SELECT status, owner_id FROM runs WHERE run_id = 'r1'") == ("running", "next")
    assert one(database, "SELECT owner_id FROM budget_reservations WHERE run_id = 'r1'") == ("next",)
    assert one(database, "SELECT COUNT(*) FROM blobs") == (1,)  # one image, stored once


async def test_the_console_leaves_resumable_runs_for_the_bot(database: DatabaseUnderTest) -> None:
    await start_durable_run(database)
    async with Store(database.url, executor_id="console", takeover="leave") as store:
        assert store.recovery.resumed == () and store.recovery.interrupted_runs == 0
        assert store.recovery.released_reservations == 0
    assert one(database, "SELECT status, owner_id FROM runs WHERE run_id = 'r1'") == ("running", "gone")
    async with Store(database.url, executor_id="bot", takeover="resume") as store:
        assert store.recovery.resumed == ("r1",)


async def test_without_durable_runs_a_resumable_run_is_interrupted(database: DatabaseUnderTest) -> None:
    await start_durable_run(database)
    async with Store(database.url, executor_id="bot", durable_runs=False, takeover="interrupt") as store:
        assert store.recovery.resumed == () and store.recovery.interrupted_runs == 1
        assert store.recovery.released_reservations == 1
    assert one(database, "SELECT status, input_tokens FROM runs WHERE run_id = 'r1'") == ("interrupted", 101)


async def test_a_run_that_cannot_be_resumed_is_interrupted_and_charged(database: DatabaseUnderTest) -> None:
    await start_durable_run(database)
    async with Store(database.url, executor_id="bot", takeover="resume") as store:
        assert await store.runs.interrupt("r1")
        assert not await store.runs.interrupt("r1")  # once
        [notice] = await store.runs.notices_pending()
        assert notice.run_id == "r1"
    assert one(database, "SELECT status FROM runs WHERE run_id = 'r1'") == (StoredStatus.INTERRUPTED,)
    assert one(database, "SELECT input_tokens, status FROM budget_ledger WHERE run_id = 'r1'") == (101, "interrupted")
    # Its money too, as its steps recorded it: what /usage and /runs show.
    assert one(database, "SELECT cost_micros, unpriced_calls FROM budget_ledger WHERE run_id = 'r1'") == (1_500, 1)
    assert one(database, "SELECT cost_micros, unpriced_calls FROM runs WHERE run_id = 'r1'") == (1_500, 1)
    assert one(database, "SELECT COUNT(*) FROM budget_reservations") == (0,)


async def test_non_durable_runs_record_no_checkpoint(database: DatabaseUnderTest) -> None:
    async with Store(database.url, executor_id="gone", durable_runs=False) as store:
        with store.audit.progress_shown("r2", "556", REQUEST):
            rec = await store.audit.start_run(run_info("r2"))
        await rec.on_step(0, STEP, Usage(1, 1), context=CONTEXT)
        await rec.on_tool(0, CALL, RESULT)
    assert one(database, "SELECT resume FROM runs") == ("",)
    assert one(database, "SELECT replay FROM steps") == ("",)
    async with Store(database.url, executor_id="bot", takeover="resume") as store:
        assert store.recovery.resumed == () and store.recovery.interrupted_runs == 1


def test_the_transcript_messages_of_a_step_keep_tool_results() -> None:
    edit = CompactionEdit.between(
        before := [UserMessage("a"), UserMessage("b"), ToolResultMessage("c", "t", "r")],
        [before[0], UserMessage("sum"), before[2]],
        Usage(),
    )
    assert (edit.head, edit.tail, edit.inserted) == (1, 1, (UserMessage("sum"),))
    assert edit.apply(before) == [before[0], UserMessage("sum"), before[2]]


async def test_a_run_that_keeps_killing_its_process_is_interrupted_at_last(database: DatabaseUnderTest) -> None:
    await start_durable_run(database)
    for attempt in range(MAX_RESUMES):
        async with Store(database.url, executor_id=f"bot{attempt}", takeover="resume") as store:
            assert store.recovery.resumed == ("r1",)
            await store.audit.resume_run("r1")  # ... and the process dies again
    async with Store(database.url, executor_id="last", takeover="resume") as store:
        assert store.recovery.resumed == () and store.recovery.interrupted_runs == 1


async def test_retention_drops_images_no_run_has_used_since_its_cutoff(database: DatabaseUnderTest) -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    other = Image(b"\x89PNG\r\n\x1a\n" + b"q" * 64, "image/png")
    async with Store(database.url, clock=clock) as store:
        old = await store.audit.start_run(run_info("old", started_at=clock()))
        await old.on_tool(0, CALL, ToolResult("both", False, (PNG, other)))
        await old.close(stats())
        clock.advance(days=60)
        again = await store.audit.start_run(run_info("new", started_at=clock()))
        await again.on_tool(0, CALL, ToolResult("one again", False, (PNG,)))  # PNG used again: kept
        await again.close(stats())
        clock.advance(days=40)
        pruned = await store.retention.prune(90)
    assert (pruned.runs, pruned.blobs) == (1, 1)
    assert database.rows("SELECT media_type, LENGTH(data) FROM blobs") == [("image/png", len(PNG.data))]
