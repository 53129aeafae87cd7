"""The Budget port: atomic reservations, limits and their periods, commits,
start-up release, and the admin API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.messages.budget import invalid_limit_text, refusal_text
from bot.store import (
    BudgetRefused,
    InvalidLimit,
    Limit,
    LimitChange,
    LimitProblem,
    Limits,
    Period,
    Refusal,
    Setting,
    Store,
)
from bot.store.limits import limit_columns
from bot.store.scopes import PERSONAL_SCOPE
from executor.llm.types import Usage
from executor.ports import Spend
from executor.tools.invocation import Invocation
from tests.databases import DatabaseUnderTest
from tests.store_helpers import FakeClock

WEDNESDAY = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


def inv(run_id: str, member: str = "u1", *, guild: str = "g1", parent: str = "") -> Invocation:
    return Invocation(member, run_id=run_id, guild_id=guild, parent_run_id=parent)


def amounts(**given: float | None) -> list[LimitChange]:
    """Changes of amounts by the names admins type (``runs=3``), periods kept."""
    return [LimitChange(Limit.named(key), value) for key, value in given.items()]


async def admitted(store: Store, invocations: list[Invocation]) -> tuple[list[str], list[Refusal]]:
    """Run the checks concurrently; the run ids let in and the refusals."""
    outcomes = await asyncio.gather(*(store.budget.check(i, "helper") for i in invocations), return_exceptions=True)
    let_in = [i.run_id for i, o in zip(invocations, outcomes, strict=True) if o is None]
    refused = [o.refusal for o in outcomes if isinstance(o, BudgetRefused)]
    assert len(let_in) + len(refused) == len(invocations), outcomes
    return let_in, refused


async def refused(store: Store, invocation: Invocation, agent: str = "helper") -> Refusal:
    """The refusal of a check that must be refused."""
    with pytest.raises(BudgetRefused) as caught:
        await store.budget.check(invocation, agent)
    return caught.value.refusal


def said(refusal: Refusal) -> str:
    """What the member reads of it (worded by the host)."""
    return refusal_text(refusal)


def ledger(database: DatabaseUnderTest) -> list[tuple[str, str, int, float]]:
    return database.rows(
        "SELECT run_id, status, input_tokens + output_tokens, runtime_seconds FROM budget_ledger ORDER BY run_id"
    )


@pytest.fixture
async def store(database: DatabaseUnderTest) -> AsyncIterator[Store]:
    clock = FakeClock(WEDNESDAY)
    async with Store(database.url, clock=clock) as opened:
        yield opened


async def test_fifty_concurrent_checks_with_one_run_left_admit_exactly_one(store: Store) -> None:
    await store.budget.set_limits("g1", "u1", amounts(runs=3))
    for n in range(2):
        await store.budget.check(inv(f"used{n}"), "helper")
        await store.budget.commit(inv(f"used{n}"), Spend(1.0, Usage(10, 10), "ok"))
    let_in, refusals = await admitted(store, [inv(f"r{n}") for n in range(50)])
    assert len(let_in) == 1
    assert len(refusals) == 49
    assert refusals[0] == Refusal(Limit.RUNS, 3, 3, Period.DAY, datetime(2025, 3, 6, tzinfo=UTC))
    assert said(refusals[0]) == "You have used 3 of 3 runs this day; resets at 00:00 UTC on Thu 6 Mar."


async def test_concurrent_checks_from_two_stores_admit_exactly_one(database: DatabaseUnderTest) -> None:
    """BEGIN IMMEDIATE serializes checks across connections, not only tasks."""
    clock = FakeClock(WEDNESDAY)
    async with Store(database.url, clock=clock) as one:
        await one.budget.set_limits("g1", None, amounts(runs=1))
        two = await Store.open(database.url, clock=clock)
        try:
            outcomes = await asyncio.gather(
                *(s.budget.check(inv(f"r{n}-{i}"), "helper") for n in range(20) for i, s in enumerate((one, two))),
                return_exceptions=True,
            )
        finally:
            await two.close()
    assert sum(o is None for o in outcomes) == 1
    assert all(o is None or isinstance(o, BudgetRefused) for o in outcomes)


async def test_the_concurrent_runs_limit(store: Store) -> None:
    await store.budget.set_limits("g1", None, amounts(concurrent=2))
    let_in, refusals = await admitted(store, [inv(f"r{n}") for n in range(30)])
    assert len(let_in) == 2
    assert refusals[0] == Refusal(Limit.CONCURRENT, 2, 2)
    assert said(refusals[0]) == "You already have 2 of 2 runs going at once; wait for one to finish, then try again."
    await store.budget.check(inv("elsewhere", guild="g2"), "helper")  # another guild has its own slots
    await store.budget.commit(inv(let_in[0]), Spend(3.0, Usage(1, 1), "ok"))
    await store.budget.check(inv("next"), "helper")
    assert "2 of 2 runs going" in said(await refused(store, inv("one-too-many")))


async def test_sub_runs_share_their_parents_run_and_slot(store: Store, database: DatabaseUnderTest) -> None:
    await store.budget.set_limits("g1", None, amounts(runs=1, concurrent=1, tokens=1000))
    await store.budget.check(inv("parent"), "helper")
    await store.budget.check(inv("child", parent="parent"), "skill")
    await store.budget.commit(inv("child", parent="parent"), Spend(1.0, Usage(600, 100), "ok"))
    await store.budget.commit(inv("parent"), Spend(4.0, Usage(200, 50), "ok"))
    usage = await store.budget.usage("g1", "u1")
    day = usage.periods[Period.DAY].spent
    assert (day.runs, day.tokens, day.runtime_seconds) == (1, 950, 4.0)
    assert "1 of 1 runs" in said(await refused(store, inv("again")))
    # A sub-run is still gated on tokens.
    await store.budget.set_limits("g1", None, amounts(runs=None, concurrent=None, tokens=900))
    assert "950 of 900 tokens" in said(await refused(store, inv("child2", parent="parent2"), "skill"))


async def test_usage_rolls_over_at_the_period_boundary(database: DatabaseUnderTest) -> None:
    clock = FakeClock(datetime(2025, 3, 5, 23, 59, 59, tzinfo=UTC))
    async with Store(database.url, clock=clock) as store:
        await store.budget.set_limits("g1", None, amounts(runs=1))
        await store.budget.check(inv("late"), "helper")
        await store.budget.commit(inv("late"), Spend(1.0, Usage(1, 1), "ok"))
        assert "resets at 00:00 UTC on Thu 6 Mar" in said(await refused(store, inv("still-today")))
        clock.advance(seconds=1)
        await store.budget.check(inv("tomorrow"), "helper")


async def test_weekly_tokens_roll_over_on_monday(database: DatabaseUnderTest) -> None:
    clock = FakeClock(datetime(2025, 3, 9, 22, 0, tzinfo=UTC))  # a Sunday
    async with Store(database.url, clock=clock) as store:
        await store.budget.set_limits("g1", "u1", [LimitChange(Limit.TOKENS, 100, Period.WEEK)])
        await store.budget.check(inv("big"), "helper")
        await store.budget.commit(inv("big"), Spend(1.0, Usage(90, 30), "ok"))
        refusal = await refused(store, inv("sunday"))
        assert said(refusal) == "You have used 120 of 100 tokens this week; resets at 00:00 UTC on Mon 10 Mar."
        clock.advance(hours=2)
        await store.budget.check(inv("monday"), "helper")


async def test_monthly_runtime_rolls_over_on_the_first(database: DatabaseUnderTest) -> None:
    clock = FakeClock(datetime(2025, 12, 31, 23, 0, tzinfo=UTC))
    async with Store(database.url, clock=clock) as store:
        await store.budget.set_limits("g1", None, [LimitChange(Limit.RUNTIME, 60, Period.MONTH)])
        await store.budget.check(inv("long"), "helper")
        await store.budget.commit(inv("long"), Spend(60.4, Usage(1, 1), "timeout"))
        refusal = await refused(store, inv("december"))
        assert "60.4 of 60 seconds of run time this month; resets at 00:00 UTC on Thu 1 Jan" in said(refusal)
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
async def test_commit_after_a_failed_run_counts_its_spend(store: Store, database: DatabaseUnderTest, status: str) -> None:
    await store.budget.set_limits("g1", None, amounts(tokens=100, concurrent=1))
    await store.budget.check(inv("r1"), "helper")
    await store.budget.commit(inv("r1"), Spend(30.0, Usage(80, 40), status))
    assert ledger(database) == [("r1", status, 120, 30.0)]
    usage = await store.budget.usage("g1", "u1")
    assert usage.running == 0  # the slot is free again
    assert "120 of 100 tokens" in said(await refused(store, inv("r2")))


async def test_commit_is_once_only(store: Store, database: DatabaseUnderTest) -> None:
    await store.budget.check(inv("r1"), "helper")
    await store.budget.commit(inv("r1"), Spend(2.0, Usage(10, 5), "ok"))
    await store.budget.commit(inv("r1"), Spend(9.0, Usage(999, 999), "error"))
    assert ledger(database) == [("r1", "ok", 15, 2.0)]
    day = (await store.budget.usage("g1", "u1")).periods[Period.DAY].spent
    assert (day.runs, day.tokens) == (1, 15)


async def test_a_second_check_of_an_admitted_run_is_a_no_op(store: Store) -> None:
    await store.budget.set_limits("g1", None, amounts(runs=1))
    await store.budget.check(inv("r1"), "helper")
    await store.budget.check(inv("r1"), "helper")
    assert (await store.budget.usage("g1", "u1")).periods[Period.DAY].spent.runs == 1


async def test_no_limits_means_unlimited_and_zero_means_none(store: Store) -> None:
    let_in, _ = await admitted(store, [inv(f"r{n}") for n in range(20)])
    assert len(let_in) == 20
    await store.budget.set_limits("g1", "u2", amounts(runs=0))
    assert said(await refused(store, inv("none", "u2"))) == (
        "Your limit here is 0 runs per day, so you cannot start runs; ask a server admin."
    )
    await store.budget.set_limits("g1", "u3", amounts(concurrent=0))
    assert said(await refused(store, inv("none2", "u3"))) == (
        "Your limit here is 0 runs at once, so you cannot start runs; ask a server admin."
    )


async def test_member_limits_override_the_guild_default_field_by_field(store: Store) -> None:
    await store.budget.set_limits("g1", None, [LimitChange(Limit.RUNS, 5, Period.WEEK), *amounts(tokens=1000)])
    await store.budget.set_limits("g1", "u1", amounts(runs=1, concurrent=3))
    effective = await store.budget.effective_limits("g1", "u1")
    assert effective == Limits(
        {Limit.RUNS: Setting(1, Period.WEEK), Limit.TOKENS: Setting(1000), Limit.CONCURRENT: Setting(3)}
    )
    assert await store.budget.effective_limits("g1", "u2") == Limits(
        {Limit.RUNS: Setting(5, Period.WEEK), Limit.TOKENS: Setting(1000)}
    )
    assert await store.budget.get_limits("g1", "u1") == Limits({Limit.RUNS: Setting(1), Limit.CONCURRENT: Setting(3)})
    await store.budget.check(inv("r1"), "helper")
    assert said(await refused(store, inv("r2"))).startswith(
        "You have used 1 of 1 runs this week; resets at 00:00 UTC on Mon 10 Mar"
    )
    await store.budget.check(inv("r3", "u2"), "helper")


async def test_set_limits_changes_only_what_it_is_given_and_reset_clears(store: Store) -> None:
    await store.budget.set_limits("g1", "u1", amounts(runs=4, tokens=500))
    assert await store.budget.set_limits("g1", "u1", [LimitChange(Limit.TOKENS, 600, Period.MONTH)]) == Limits(
        {Limit.RUNS: Setting(4), Limit.TOKENS: Setting(600, Period.MONTH)}
    )
    # An amount given without a period keeps the period it had; clearing removes both.
    assert await store.budget.set_limits("g1", "u1", amounts(tokens=700, runs=None)) == Limits(
        {Limit.TOKENS: Setting(700, Period.MONTH)}
    )
    assert await store.budget.set_limits("g1", "u1", amounts(tokens=None)) == Limits()
    await store.budget.set_limits("g1", "u1", amounts(runs=4))
    assert await store.budget.reset("g1", "u1") is True
    assert await store.budget.reset("g1", "u1") is False
    assert await store.budget.get_limits("g1", "u1") == Limits()


def test_the_limit_vocabulary_names_every_column_once() -> None:
    assert limit_columns() == [
        "max_runs", "runs_period", "max_tokens", "tokens_period", "max_runtime_seconds", "runtime_period",
        "max_concurrent", "max_usd_micros", "usd_period",
    ]  # fmt: skip
    assert Limit.named("runtime") is Limit.RUNTIME
    with pytest.raises(ValueError, match="unknown budget limit 'runz'"):
        Limit.named("runz")


@pytest.mark.parametrize(
    ("change", "problem", "message"),
    [
        (LimitChange(Limit.RUNS, -1), LimitProblem.NEGATIVE, "runs cannot be negative"),
        (LimitChange(Limit.RUNTIME, -0.5), LimitProblem.NEGATIVE, "runtime cannot be negative"),
        (LimitChange(Limit.TOKENS, 2.5), LimitProblem.NOT_WHOLE, "tokens must be a whole number"),
        (LimitChange(Limit.CONCURRENT, True), LimitProblem.NOT_A_NUMBER, "concurrent must be a number"),
        (LimitChange(Limit.RUNTIME, float("inf")), LimitProblem.NOT_FINITE, "must be finite"),
        (LimitChange(Limit.TOKENS, 2**63), LimitProblem.TOO_BIG, "tokens can be at most 1,000,000,000,000"),
    ],
)
async def test_bad_limits_are_refused_and_nothing_is_written(
    store: Store, change: LimitChange, problem: LimitProblem, message: str
) -> None:
    await store.budget.set_limits("g1", "u1", amounts(runs=2))
    with pytest.raises(InvalidLimit) as caught:
        await store.budget.set_limits("g1", "u1", [LimitChange(Limit.TOKENS, 5, Period.WEEK), change])
    assert (caught.value.limit, caught.value.problem) == (change.limit, problem)
    assert message in invalid_limit_text(caught.value)
    assert await store.budget.get_limits("g1", "u1") == Limits({Limit.RUNS: Setting(2)})


async def test_a_refusal_is_not_written_by_the_budget(store: Store) -> None:
    """The budget only refuses: the executor records the refusal through the
    Audit port (test_store_audit), so a check alone leaves no run row."""
    await store.budget.set_limits("g1", None, amounts(runs=0))
    refusal = await refused(store, inv("refused"))
    assert refusal == Refusal(Limit.RUNS, 0, 0, Period.DAY, datetime(2025, 3, 6, tzinfo=UTC))
    assert await store.runs.detail("refused") is None


async def test_reservations_of_a_dead_process_are_released_at_start_up(database: DatabaseUnderTest) -> None:
    clock = FakeClock(WEDNESDAY)
    async with Store(database.url, clock=clock) as store:
        await store.budget.set_limits("g1", None, amounts(concurrent=1, runs=5))
        await store.budget.check(inv("orphan"), "helper")
        assert "going at once" in said(await refused(store, inv("blocked")))
    async with Store(database.url, clock=clock) as store:
        assert store.recovery.released_reservations == 1
        await store.budget.check(inv("free-again"), "helper")
        day = (await store.budget.usage("g1", "u1")).periods[Period.DAY].spent
        assert day.runs == 2  # the interrupted run still counts as a run
    assert ("orphan", "interrupted", 0, 0.0) in ledger(database)


async def test_usage_and_top_spenders(store: Store) -> None:
    await store.budget.set_limits("g1", None, amounts(runs=10))
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
    # Sums of whole counts come back as ints on both databases (PostgreSQL's SUM of BIGINT is NUMERIC).
    assert {type(s.spent.tokens) for s in top} == {int}
    u3 = await store.budget.usage("g1", "u3")
    assert u3.running == 1
    assert u3.limits == Limits({Limit.RUNS: Setting(10)})
    week = u3.periods[Period.WEEK]
    assert (week.spent.runs, week.spent.tokens) == (2, 2)
    assert (week.started_at, week.resets_at) == (
        datetime(2025, 3, 3, tzinfo=UTC),
        datetime(2025, 3, 10, tzinfo=UTC),
    )


async def test_a_cancelled_check_leaves_the_connection_usable(database: DatabaseUnderTest) -> None:
    """Cancelling a check at any point must not leave its connection inside
    an open transaction (every later check would fail)."""
    async with Store(database.url) as store:
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


async def test_the_personal_scope_has_the_operators_limits_and_no_guild_reaches_it(
    database: DatabaseUnderTest,
) -> None:
    """DMs run in PERSONAL_SCOPE: its limits come from settings; a guild's
    default or member rows, even one written under that scope's name, count for nothing."""
    personal = Limits({Limit.RUNS: Setting(2, Period.DAY), Limit.CONCURRENT: Setting(5)})
    async with Store(database.url, clock=FakeClock(WEDNESDAY), personal_limits=personal) as store:
        await store.budget.set_limits("g1", None, amounts(runs=0))
        await store.budget.set_limits(PERSONAL_SCOPE, "u1", amounts(runs=100))
        for n in range(2):
            await store.budget.check(inv(f"dm{n}", guild=PERSONAL_SCOPE), "helper")
            await store.budget.commit(inv(f"dm{n}", guild=PERSONAL_SCOPE), Spend(1.0, Usage(10, 10), "ok"))
        refusal = await refused(store, inv("dm2", guild=PERSONAL_SCOPE))
        assert refusal.personal and (refusal.used, refusal.allowed) == (2, 2)
        assert said(refusal) == "You have used 2 of 2 runs in DMs this day; resets at 00:00 UTC on Thu 6 Mar."
        assert "server admin" not in said(replace(refusal, allowed=0))
        assert not (await refused(store, inv("g", guild="g1"))).personal  # the guild's own 0 still holds there
        assert await store.budget.effective_limits(PERSONAL_SCOPE, "u1") == personal
        usage = await store.budget.usage(PERSONAL_SCOPE, "u1")
        assert usage.limits == personal and usage.periods[Period.DAY].spent.runs == 2
