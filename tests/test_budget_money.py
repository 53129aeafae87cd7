"""Budgets in USD through the executor and the store: every model call held
before it is made and settled after, so concurrent runs of one member never
spend past a limit; costs per call in steps, runs and the ledger; unknown
prices fail closed; role limits; warnings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.messages.budget import call_refusal_text
from bot.store import CallRefused, Limit, LimitChange, Limits, Period, Setting, Store, role_key
from bot.store.scopes import PERSONAL_SCOPE
from executor import BudgetExceeded, Executor, Ports, RunnableAgent, RunStatus, Spend
from executor.llm import Message, ToolSpec
from executor.llm.model import ModelResponse
from executor.llm.pricing import Price, Tariff
from executor.llm.errors import RateLimitError
from executor.llm.scripted import ScriptedModel, call, calls, cut_off, text, tool_call
from executor.llm.types import ToolResultMessage, Usage
from executor.tools.invocation import Invocation
from tests.databases import DatabaseUnderTest
from tests.executor_kit import make_executor
from tests.store_helpers import FakeClock

WEDNESDAY = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
#: $100 in and $1,000 out per million tokens, at most 20 output tokens a call:
#: a call of Usage(10, 5) costs $0.006, and holds about $0.03 before it is made.
DEAR = Tariff(Price(Decimal(100), Decimal(1000)), max_output_tokens=20)
AGENT = RunnableAgent("helper", tools=("echo",))
TEN_CENTS = 100_000


def usd(micros: int, period: Period | None = None) -> list[LimitChange]:
    return [LimitChange(Limit.USD, micros, period)]


def tool_then_answer(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> ModelResponse:
    """Each run: one echo call, then an answer (with usage Usage(10, 5) each)."""
    if isinstance(messages[-1], ToolResultMessage):
        return text("done")
    return call("echo", text="hi")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WEDNESDAY)


@pytest.fixture
async def store(database: DatabaseUnderTest, clock: FakeClock) -> AsyncIterator[Store]:
    async with Store(database.url, clock=clock) as opened:
        yield opened


async def spend(store: Store, member: str, micros: int) -> None:
    """One model call of ``member`` that cost ``micros``."""
    hold = await store.calls.reserve_call(Invocation(member, guild_id="g1"), "m", micros)
    await store.calls.settle_call(hold, micros)


def executor_on(store: Store, model: ScriptedModel, tariff: Tariff | None = DEAR) -> Executor:
    ports = Ports(budget=store.budget, audit=store.audit, calls=store.calls)
    return make_executor(model, ports=ports, tariffs=lambda tier: tariff)


async def test_fifty_concurrent_runs_never_spend_more_than_a_ten_cent_day_limit(
    store: Store, database: DatabaseUnderTest
) -> None:
    await store.budget.set_limits("g1", "u1", usd(TEN_CENTS))
    executor = executor_on(store, ScriptedModel([tool_then_answer], repeat_last=True, delay=0.001))
    results = await asyncio.gather(
        *(executor.run(AGENT, Invocation("u1", run_id=f"r{n:02}", guild_id="g1"), "hi") for n in range(50))
    )
    (spent,) = database.rows("SELECT COALESCE(SUM(cost_micros), 0) FROM budget_ledger")[0]
    (calls,) = database.rows("SELECT COALESCE(SUM(cost_micros), 0) FROM budget_calls")[0]
    assert 0 < spent <= TEN_CENTS
    assert calls == spent  # every settled call is in its run's ledger entry
    finished = [r for r in results if r.status is RunStatus.OK]
    stopped = [r for r in results if isinstance(r.err, CallRefused | BudgetExceeded)]
    assert finished and stopped and len(finished) + len(stopped) == 50
    assert all(r.usage.cost == 12_000 for r in finished)  # two calls of $0.006
    # What a run spent is in its runs row and its ledger entry alike.
    assert database.rows(
        "SELECT r.run_id FROM runs r JOIN budget_ledger l ON l.run_id = r.run_id WHERE r.cost_micros != l.cost_micros"
    ) == []


async def test_a_call_that_does_not_fit_is_not_made_and_the_run_keeps_its_partial_answer(store: Store) -> None:
    # Room for the first call's hold (about $0.03) but not, after it cost $0.006, for the second's.
    await store.budget.set_limits("g1", "u1", usd(40_000))
    model = ScriptedModel([calls(tool_call("echo", {"text": "hi"}), content="Looking it up."), text("never sent")])
    result = await executor_on(store, model).run(AGENT, Invocation("u1", run_id="r1", guild_id="g1"), "hi")
    assert isinstance(result.err, CallRefused)
    assert result.err.refusal.used == 6_000 and result.err.refusal.needed > 34_000
    assert len(model.requests) == 1
    assert result.output == "Looking it up."
    assert result.usage.cost == 6_000


async def test_an_unknown_price_fails_closed_under_a_usd_limit_and_is_unknown_without_one(
    store: Store, database: DatabaseUnderTest
) -> None:
    model = ScriptedModel([text("free?")], repeat_last=True)
    executor = executor_on(store, model, tariff=None)
    free = await executor.run(AGENT, Invocation("u1", run_id="r1", guild_id="g1"), "hi")
    assert free.status is RunStatus.OK and free.usage.cost is None
    assert database.rows("SELECT unpriced_calls FROM runs WHERE run_id = 'r1'") == [(1,)]

    await store.budget.set_limits("g1", None, usd(TEN_CENTS))
    refused = await executor.run(AGENT, Invocation("u1", run_id="r2", guild_id="g1"), "hi")
    assert isinstance(refused.err, CallRefused) and refused.err.refusal.unpriced_model == "scripted"
    assert len(model.requests) == 1  # the refused run made no model call


async def test_a_members_limit_beats_their_roles_and_the_most_generous_role_beats_the_default(store: Store) -> None:
    await store.budget.set_limits("g1", None, usd(1_000_000))  # $1 a day for everyone
    await store.budget.set_limits("g1", role_key("mods"), usd(5_000_000, Period.WEEK))  # $5 a week
    await store.budget.set_limits("g1", role_key("vips"), usd(2_000_000))  # $2 a day: more per day
    await store.budget.set_limits("g1", role_key("muted"), usd(0))

    async def limit(member: str, roles: tuple[str, ...]) -> tuple[float | None, Period]:
        limits = await store.budget.effective_limits("g1", member, roles)
        return limits.amount(Limit.USD), limits.period(Limit.USD)

    assert await limit("u1", ()) == (1_000_000, Period.DAY)
    assert await limit("u1", ("mods",)) == (5_000_000, Period.WEEK)
    assert await limit("u1", ("mods", "vips", "muted")) == (2_000_000, Period.DAY)
    assert await limit("u1", ("muted",)) == (0, Period.DAY)  # a role's own 0 wins over the default
    await store.budget.set_limits("g1", "u1", usd(100_000))
    assert await limit("u1", ("mods", "vips")) == (100_000, Period.DAY)


async def test_a_warning_is_claimed_once_per_limit_and_period(store: Store, clock: FakeClock) -> None:
    await store.budget.set_limits("g1", None, usd(TEN_CENTS))
    await spend(store, "u1", 79_000)
    assert await store.budget.claim_warnings("g1", "u1", (), 80) == []
    await spend(store, "u1", 6_000)
    claims = await asyncio.gather(*(store.budget.claim_warnings("g1", "u1", (), 80) for _ in range(5)))
    [[warned]] = [c for c in claims if c]  # one claimer of five concurrent ones
    assert (warned.limit, warned.used, warned.allowed, warned.period) == (Limit.USD, 85_000, TEN_CENTS, Period.DAY)
    assert round(warned.percent) == 85
    assert await store.budget.claim_warnings("g1", "u1", (), 80) == []
    clock.advance(days=1)  # a new day: the limit and its warning start again
    await spend(store, "u1", 90_000)
    assert [w.used for w in await store.budget.claim_warnings("g1", "u1", (), 80)] == [90_000]


async def test_budget_show_lists_who_is_near_a_limit_with_their_roles(store: Store) -> None:
    await store.budget.set_limits("g1", None, usd(TEN_CENTS))
    await store.budget.set_limits("g1", role_key("vips"), usd(10 * TEN_CENTS))
    for member in ("u1", "u2", "u3"):
        await spend(store, member, 90_000)
    await spend(store, "u3", 5_000)
    near = await store.budget.near_limits("g1", {"u2": ("vips",)}, 80)
    assert [(m, round(u.percent)) for m, u in near] == [("u3", 95), ("u1", 90)]  # u2's role allows $1


async def test_a_refused_call_costs_nothing_and_a_broken_off_one_keeps_its_hold(
    store: Store, database: DatabaseUnderTest
) -> None:
    executor = executor_on(store, ScriptedModel([RateLimitError("slow down", status=429), cut_off("half an ans")]))
    for run_id in ("refused", "broken"):
        result = await executor.run(AGENT, Invocation("u1", run_id=run_id, guild_id="g1"), "hi")
        assert result.status is RunStatus.ERROR
    rows = dict(database.rows("SELECT run_id, cost_micros - held_micros FROM budget_calls"))
    held = dict(database.rows("SELECT run_id, held_micros FROM budget_calls"))
    assert rows["refused"] == -held["refused"]  # settled at 0: the provider billed nothing
    assert rows["broken"] == 0 and held["broken"] > 0  # it may have been billed: the hold stays


class UnsettledBudget:
    """A CallBudget whose database goes away between holding and settling."""

    def __init__(self) -> None:
        self.held: list[int | None] = []

    async def reserve_call(self, invocation: Invocation, model: str, worst_case: int | None) -> str:
        self.held.append(worst_case)
        return "hold-1"

    async def settle_call(self, hold: str, cost: int | None) -> None:
        raise ConnectionError("the database went away")


async def test_a_hold_that_cannot_be_settled_does_not_cost_the_member_the_answer() -> None:
    budget = UnsettledBudget()
    executor = make_executor(ScriptedModel([text("kept")]), ports=Ports(calls=budget), tariffs=lambda tier: DEAR)
    result = await executor.run(AGENT, Invocation("u1"), "hi")
    assert result.status is RunStatus.OK and result.output == "kept"
    assert budget.held[0] is not None and budget.held[0] > 0 and result.usage.cost == 6_000


async def test_the_personal_scope_warns_by_the_operators_limits(database: DatabaseUnderTest, clock: FakeClock) -> None:
    personal = Limits({Limit.TOKENS: Setting(1_000)})
    async with Store(database.url, clock=clock, personal_limits=personal) as store:
        dm = Invocation("u1", run_id="dm1", guild_id=PERSONAL_SCOPE)
        await store.budget.check(dm, "helper")
        await store.budget.commit(dm, Spend(1.0, Usage(800, 50), "ok"))
        [warned] = await store.budget.claim_warnings(PERSONAL_SCOPE, "u1", (), 80)
        assert (warned.limit, warned.used, warned.allowed) == (Limit.TOKENS, 850, 1_000)
        assert [u.limit for u in await store.budget.standing(PERSONAL_SCOPE, "u1")] == [Limit.TOKENS]


async def test_the_personal_scope_holds_calls_to_the_operators_usd_limit(
    database: DatabaseUnderTest, clock: FakeClock
) -> None:
    """DM_BUDGET_USD: model calls in DMs are held against the operator's limit;
    a USD row written under the personal scope's name counts for nothing."""
    personal = Limits({Limit.USD: Setting(TEN_CENTS)})
    async with Store(database.url, clock=clock, personal_limits=personal) as store:
        await store.budget.set_limits(PERSONAL_SCOPE, "u1", usd(100 * TEN_CENTS))
        dm = Invocation("u1", run_id="dm1", guild_id=PERSONAL_SCOPE)
        hold = await store.calls.reserve_call(dm, "m", 60_000)
        await store.calls.settle_call(hold, 60_000)
        with pytest.raises(CallRefused) as refused:
            await store.calls.reserve_call(dm, "m", 60_000)
        assert refused.value.refusal.personal and refused.value.refusal.allowed == TEN_CENTS
        with pytest.raises(CallRefused) as unpriced:
            await store.calls.reserve_call(dm, "local-model", None)
        assert unpriced.value.refusal.personal and unpriced.value.refusal.unpriced_model == "local-model"
        assert "your DMs" in call_refusal_text(unpriced.value.refusal)
        await store.calls.reserve_call(Invocation("u1", run_id="g", guild_id="g1"), "m", 60_000)  # a guild: no limit
