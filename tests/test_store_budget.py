"""The Budget port: atomic reservations, limits and their periods, commits,
start-up release, and the admin API."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store import Limits, Period, Store
from executor.errors import BudgetExceeded
from executor.llm.types import Usage
from executor.ports import Spend
from executor.tools.invocation import Invocation
from tests.store_helpers import FakeClock, url

WEDNESDAY = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


def inv(run_id: str, member: str = "u1", *, guild: str = "g1", parent: str = "") -> Invocation:
    return Invocation(member, run_id=run_id, guild_id=guild, parent_run_id=parent)


async def admitted(store: Store, invocations: list[Invocation]) -> tuple[list[str], list[BudgetExceeded]]:
    """Run the checks concurrently; the run ids let in and the refusals."""
    outcomes = await asyncio.gather(*(store.budget.check(i, "helper") for i in invocations), return_exceptions=True)
    let_in = [i.run_id for i, o in zip(invocations, outcomes, strict=True) if o is None]
    refused = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    assert len(let_in) + len(refused) == len(invocations), outcomes
    return let_in, refused


def ledger(tmp_path: Path) -> list[tuple[str, str, int, float]]:
    with sqlite3.connect(tmp_path / "executus.db") as conn:
        return conn.execute(
            "SELECT run_id, status, input_tokens + output_tokens, runtime_seconds FROM budget_ledger ORDER BY run_id"
        ).fetchall()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    clock = FakeClock(WEDNESDAY)
    async with Store(url(tmp_path), clock=clock) as opened:
        yield opened


async def test_fifty_concurrent_checks_with_one_run_left_admit_exactly_one(store: Store) -> None:
    await store.budget.set_limits("g1", "u1", max_runs=3)
    for n in range(2):
        await store.budget.check(inv(f"used{n}"), "helper")
        await store.budget.commit(inv(f"used{n}"), Spend(1.0, Usage(10, 10), "ok"))
    let_in, refused = await admitted(store, [inv(f"r{n}") for n in range(50)])
    assert len(let_in) == 1
    assert len(refused) == 49
    assert str(refused[0]) == "You have used 3 of 3 runs this day; resets at 00:00 UTC on Thu 6 Mar."


async def test_concurrent_checks_from_two_stores_admit_exactly_one(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE serializes checks across connections, not only tasks."""
    clock = FakeClock(WEDNESDAY)
    async with Store(url(tmp_path), clock=clock) as one:
        await one.budget.set_limits("g1", None, max_runs=1)
        two = await Store.open(url(tmp_path), clock=clock)
        try:
            outcomes = await asyncio.gather(
                *(s.budget.check(inv(f"r{n}-{i}"), "helper") for n in range(20) for i, s in enumerate((one, two))),
                return_exceptions=True,
            )
        finally:
            await two.close()
    assert sum(o is None for o in outcomes) == 1
    assert all(o is None or isinstance(o, BudgetExceeded) for o in outcomes)


async def test_the_concurrent_runs_limit(store: Store) -> None:
    await store.budget.set_limits("g1", None, max_concurrent=2)
    let_in, refused = await admitted(store, [inv(f"r{n}") for n in range(30)])
    assert len(let_in) == 2
    assert str(refused[0]) == "You already have 2 of 2 runs going at once; wait for one to finish, then try again."
    await store.budget.check(inv("elsewhere", guild="g2"), "helper")  # another guild has its own slots
    await store.budget.commit(inv(let_in[0]), Spend(3.0, Usage(1, 1), "ok"))
    await store.budget.check(inv("next"), "helper")
    with pytest.raises(BudgetExceeded, match="2 of 2 runs going"):
        await store.budget.check(inv("one-too-many"), "helper")


async def test_sub_runs_share_their_parents_run_and_slot(store: Store, tmp_path: Path) -> None:
    await store.budget.set_limits("g1", None, max_runs=1, max_concurrent=1, max_tokens=1000)
    await store.budget.check(inv("parent"), "helper")
    await store.budget.check(inv("child", parent="parent"), "skill")
    await store.budget.commit(inv("child", parent="parent"), Spend(1.0, Usage(600, 100), "ok"))
    await store.budget.commit(inv("parent"), Spend(4.0, Usage(200, 50), "ok"))
    usage = await store.budget.usage("g1", "u1")
    day = usage.periods[Period.DAY].spent
    assert (day.runs, day.tokens, day.runtime_seconds) == (1, 950, 4.0)
    with pytest.raises(BudgetExceeded, match="1 of 1 runs"):
        await store.budget.check(inv("again"), "helper")
    # A sub-run is still gated on tokens.
    await store.budget.set_limits("g1", None, max_runs=None, max_concurrent=None, max_tokens=900)
    with pytest.raises(BudgetExceeded, match="950 of 900 tokens"):
        await store.budget.check(inv("child2", parent="parent2"), "skill")


async def test_usage_rolls_over_at_the_period_boundary(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 3, 5, 23, 59, 59, tzinfo=UTC))
    async with Store(url(tmp_path), clock=clock) as store:
        await store.budget.set_limits("g1", None, max_runs=1)
        await store.budget.check(inv("late"), "helper")
        await store.budget.commit(inv("late"), Spend(1.0, Usage(1, 1), "ok"))
        with pytest.raises(BudgetExceeded, match="resets at 00:00 UTC on Thu 6 Mar"):
            await store.budget.check(inv("still-today"), "helper")
        clock.advance(seconds=1)
        await store.budget.check(inv("tomorrow"), "helper")


async def test_weekly_tokens_roll_over_on_monday(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 3, 9, 22, 0, tzinfo=UTC))  # a Sunday
    async with Store(url(tmp_path), clock=clock) as store:
        await store.budget.set_limits("g1", "u1", max_tokens=100, tokens_period="week")
        await store.budget.check(inv("big"), "helper")
        await store.budget.commit(inv("big"), Spend(1.0, Usage(90, 30), "ok"))
        with pytest.raises(BudgetExceeded) as refused:
            await store.budget.check(inv("sunday"), "helper")
        assert str(refused.value) == "You have used 120 of 100 tokens this week; resets at 00:00 UTC on Mon 10 Mar."
        clock.advance(hours=2)
        await store.budget.check(inv("monday"), "helper")


async def test_monthly_runtime_rolls_over_on_the_first(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2025, 12, 31, 23, 0, tzinfo=UTC))
    async with Store(url(tmp_path), clock=clock) as store:
        await store.budget.set_limits("g1", None, max_runtime_seconds=60, runtime_period=Period.MONTH)
        await store.budget.check(inv("long"), "helper")
        await store.budget.commit(inv("long"), Spend(60.4, Usage(1, 1), "timeout"))
        with pytest.raises(BudgetExceeded, match="60.4 of 60 seconds of run time this month; resets at 00:00 UTC on Thu 1 Jan"):
            await store.budget.check(inv("december"), "helper")
        clock.advance(hours=1)
        await store.budget.check(inv("january"), "helper")


def test_period_boundaries() -> None:
    wednesday = datetime(2025, 3, 5, 12, 30, tzinfo=UTC)
    assert Period.DAY.start(wednesday) == datetime(2025, 3, 5, tzinfo=UTC)
    assert Period.WEEK.start(wednesday) == datetime(2025, 3, 3, tzinfo=UTC)
    assert Period.WEEK.start(datetime(2025, 3, 3, tzinfo=UTC)) == datetime(2025, 3, 3, tzinfo=UTC)
    assert Period.MONTH.start(wednesday) == datetime(2025, 3, 1, tzinfo=UTC)
    assert Period.MONTH.next_start(datetime(2025, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert Period.WEEK.next_start(wednesday) == datetime(2025, 3, 10, tzinfo=UTC)
    naive = datetime(2025, 3, 5, 1, 0)
    assert Period.DAY.start(naive) == datetime(2025, 3, 5, tzinfo=UTC)


@pytest.mark.parametrize("status", ["timeout", "cancelled", "error", "killed"])
async def test_commit_after_a_failed_run_counts_its_spend(store: Store, tmp_path: Path, status: str) -> None:
    await store.budget.set_limits("g1", None, max_tokens=100, max_concurrent=1)
    await store.budget.check(inv("r1"), "helper")
    await store.budget.commit(inv("r1"), Spend(30.0, Usage(80, 40), status))
    assert ledger(tmp_path) == [("r1", status, 120, 30.0)]
    usage = await store.budget.usage("g1", "u1")
    assert usage.running == 0  # the slot is free again
    with pytest.raises(BudgetExceeded, match="120 of 100 tokens"):
        await store.budget.check(inv("r2"), "helper")


async def test_commit_is_once_only(store: Store, tmp_path: Path) -> None:
    await store.budget.check(inv("r1"), "helper")
    await store.budget.commit(inv("r1"), Spend(2.0, Usage(10, 5), "ok"))
    await store.budget.commit(inv("r1"), Spend(9.0, Usage(999, 999), "error"))
    assert ledger(tmp_path) == [("r1", "ok", 15, 2.0)]
    day = (await store.budget.usage("g1", "u1")).periods[Period.DAY].spent
    assert (day.runs, day.tokens) == (1, 15)


async def test_a_second_check_of_an_admitted_run_is_a_no_op(store: Store) -> None:
    await store.budget.set_limits("g1", None, max_runs=1)
    await store.budget.check(inv("r1"), "helper")
    await store.budget.check(inv("r1"), "helper")
    assert (await store.budget.usage("g1", "u1")).periods[Period.DAY].spent.runs == 1


async def test_no_limits_means_unlimited_and_zero_means_none(store: Store) -> None:
    let_in, _ = await admitted(store, [inv(f"r{n}") for n in range(20)])
    assert len(let_in) == 20
    await store.budget.set_limits("g1", "u2", max_runs=0)
    with pytest.raises(BudgetExceeded, match="Your limit here is 0 runs per day"):
        await store.budget.check(inv("none", "u2"), "helper")
    await store.budget.set_limits("g1", "u3", max_concurrent=0)
    with pytest.raises(BudgetExceeded, match="0 runs at once"):
        await store.budget.check(inv("none2", "u3"), "helper")


async def test_member_limits_override_the_guild_default_field_by_field(store: Store) -> None:
    await store.budget.set_limits("g1", None, max_runs=5, runs_period="week", max_tokens=1000)
    await store.budget.set_limits("g1", "u1", max_runs=1, max_concurrent=3)
    effective = await store.budget.effective_limits("g1", "u1")
    assert effective == Limits(max_runs=1, runs_period=Period.WEEK, max_tokens=1000, max_concurrent=3)
    assert await store.budget.effective_limits("g1", "u2") == Limits(
        max_runs=5, runs_period=Period.WEEK, max_tokens=1000
    )
    assert await store.budget.get_limits("g1", "u1") == Limits(max_runs=1, max_concurrent=3)
    await store.budget.check(inv("r1"), "helper")
    with pytest.raises(BudgetExceeded, match="1 of 1 runs this week; resets at 00:00 UTC on Mon 10 Mar"):
        await store.budget.check(inv("r2"), "helper")
    await store.budget.check(inv("r3", "u2"), "helper")


async def test_set_limits_changes_only_what_it_is_given_and_reset_clears(store: Store) -> None:
    await store.budget.set_limits("g1", "u1", max_runs=4, max_tokens=500)
    assert await store.budget.set_limits("g1", "u1", max_tokens=None, tokens_period="month") == Limits(
        max_runs=4, tokens_period=Period.MONTH
    )
    assert await store.budget.reset("g1", "u1") is True
    assert await store.budget.reset("g1", "u1") is False
    assert await store.budget.get_limits("g1", "u1") == Limits()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_runs": -1}, "max_runs cannot be negative"),
        ({"max_runtime_seconds": -0.5}, "max_runtime_seconds cannot be negative"),
        ({"max_tokens": 2.5}, "max_tokens must be a whole number"),
        ({"max_concurrent": True}, "max_concurrent must be a whole number"),
        ({"max_runtime_seconds": float("inf")}, "must be finite"),
        ({"runs_period": "year"}, "runs_period must be one of day, week, month"),
        ({"max_runz": 3}, "unknown budget limit 'max_runz'"),
    ],
)
async def test_bad_limits_are_refused_and_nothing_is_written(
    store: Store, changes: dict[str, object], message: str
) -> None:
    await store.budget.set_limits("g1", "u1", max_runs=2)
    with pytest.raises(ValueError, match=message):
        await store.budget.set_limits("g1", "u1", tokens_period="week", **changes)
    assert await store.budget.get_limits("g1", "u1") == Limits(max_runs=2)


async def test_refusals_are_recorded_as_rejected_runs(store: Store) -> None:
    await store.budget.set_limits("g1", None, max_runs=0)
    with pytest.raises(BudgetExceeded):
        await store.budget.check(inv("refused"), "helper")
    detail = await store.runs.detail("refused")
    assert detail is not None
    assert detail.run.status == "rejected"
    assert detail.events[0].kind == "budget_rejected"
    assert "0 runs per day" in detail.events[0].data["message"]


async def test_reservations_of_a_dead_process_are_released_at_start_up(tmp_path: Path) -> None:
    clock = FakeClock(WEDNESDAY)
    async with Store(url(tmp_path), clock=clock) as store:
        await store.budget.set_limits("g1", None, max_concurrent=1, max_runs=5)
        await store.budget.check(inv("orphan"), "helper")
        with pytest.raises(BudgetExceeded, match="going at once"):
            await store.budget.check(inv("blocked"), "helper")
    async with Store(url(tmp_path), clock=clock) as store:
        assert store.recovery.released_reservations == 1
        await store.budget.check(inv("free-again"), "helper")
        day = (await store.budget.usage("g1", "u1")).periods[Period.DAY].spent
        assert day.runs == 2  # the interrupted run still counts as a run
    assert ("orphan", "interrupted", 0, 0.0) in ledger(tmp_path)


async def test_usage_and_top_spenders(store: Store) -> None:
    await store.budget.set_limits("g1", None, max_runs=10)
    spends = {"u1": [Usage(100, 50)], "u2": [Usage(300, 0), Usage(10, 10)], "u3": [Usage(1, 1)]}
    for member, usages in spends.items():
        for n, usage in enumerate(usages):
            run = inv(f"{member}-{n}", member)
            await store.budget.check(run, "helper")
            await store.budget.commit(run, Spend(float(n + 1), usage, "ok"))
    await store.budget.check(inv("going", "u3"), "helper")
    await store.budget.commit(inv("other-guild", "u3", guild="g2"), Spend(1.0, Usage(9999, 0), "ok"))

    top = await store.budget.top_spenders("g1", Period.WEEK, limit=2)
    assert [(s.member_id, s.spent.runs, s.spent.tokens, s.spent.runtime_seconds) for s in top] == [
        ("u2", 2, 320, 3.0),
        ("u1", 1, 150, 1.0),
    ]
    u3 = await store.budget.usage("g1", "u3")
    assert u3.running == 1
    assert u3.limits == Limits(max_runs=10)
    week = u3.periods[Period.WEEK]
    assert (week.spent.runs, week.spent.tokens) == (2, 2)
    assert (week.started_at, week.resets_at) == (
        datetime(2025, 3, 3, tzinfo=UTC),
        datetime(2025, 3, 10, tzinfo=UTC),
    )


async def test_a_cancelled_check_leaves_the_connection_usable(tmp_path: Path) -> None:
    """Cancelling a check at any point must not leave its connection inside
    an open transaction (every later check would fail)."""
    async with Store(url(tmp_path)) as store:
        for turns in range(8):
            task = asyncio.create_task(store.budget.check(Invocation("m1", run_id=f"c{turns}", guild_id="g"), "a"))
            for _ in range(turns):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await store.budget.check(Invocation("m1", run_id="after", guild_id="g"), "a")
        await store.budget.commit(Invocation("m1", run_id="after", guild_id="g"), Spend(1.0, Usage(1, 1), "ok"))
        usage = await store.budget.usage("g", "m1")
        assert usage.periods[Period.DAY].spent.runs >= 1
