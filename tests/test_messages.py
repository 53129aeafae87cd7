"""The text members read (bot/messages/): one icon for every status a run
can have, limits and usage worded from the budget vocabulary, and a failed
run as one short line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.mcp import ServerState, Status
from bot.messages.approvals import approval_asked
from bot.messages.budget import limits_text, spenders_text
from bot.messages.failures import describe_error
from bot.messages.mcp import servers_list
from bot.messages.runs import STATUS_ICON, run_line
from bot.store import CallRefused, Limit, Limits, Period, Refusal, RunSummary, Setting, Spender, Spent, StoredStatus
from bot.store.budget import BudgetRefused
from executor import ApprovalRequest
from executor.errors import BudgetExceeded
from executor.llm.types import Usage
from executor.run import RunStatus


def summary(status: StoredStatus) -> RunSummary:
    return RunSummary(
        run_id="abc123", agent_id="helper", caller_id="7", guild_id="g", channel_id="c", parent_run_id="",
        tier="fast", model="m", status=status, input="hi", output="", error="",
        started_at=datetime(2025, 3, 5, tzinfo=UTC), finished_at=None, runtime_seconds=1.5, usage=Usage(3, 4),
        tool_calls=0, steps=1, ceiling_hit=False,
    )  # fmt: skip


def test_every_run_status_of_the_executor_is_a_stored_status() -> None:
    assert {s.value for s in RunStatus} <= {s.value for s in StoredStatus}


@pytest.mark.parametrize("status", list(StoredStatus))
def test_every_stored_status_has_its_icon_in_run_lists(status: StoredStatus) -> None:
    line = run_line(summary(status), show_caller=False)
    assert line.startswith(f"{STATUS_ICON[status]} `abc123`") and f" {status.value} " in line


def test_interrupted_and_rejected_runs_are_told_apart_from_a_bullet() -> None:
    assert STATUS_ICON[StoredStatus.REJECTED] == "⛔"
    assert not any(run_line(summary(s), False).startswith("•") for s in StoredStatus)


def test_limits_and_spending_are_worded_from_the_vocabulary() -> None:
    limits = Limits({Limit.RUNS: Setting(5, Period.WEEK), Limit.RUNTIME: Setting(60), Limit.USD: Setting(1_500_000)})
    assert limits_text(limits).splitlines() == [
        "runs: 5 per week",
        "tokens: unlimited per day",
        "runtime: 60 s per day",
        "concurrent: unlimited",
        "usd: $1.50 per day",
    ]
    spent = spenders_text([Spender("9", Spent(runs=2, tokens=1500, runtime_seconds=4.4, usd_micros=13_200))], Period.DAY)
    assert spent.splitlines()[1] == "1. <@9> · 2 runs · 1,500 tokens · 4 s · $0.0132"
    unknown = spenders_text([Spender("9", Spent(runs=1, usd_micros=0, unpriced_calls=3))], Period.DAY)
    assert unknown.splitlines()[1].endswith("· $0 + 3 calls of unknown cost")


def test_a_refusal_is_worded_by_the_host_and_recorded_plainly() -> None:
    refusal = Refusal(Limit.TOKENS, 950, 900, Period.DAY, datetime(2025, 3, 6, tzinfo=UTC))
    err = BudgetRefused(refusal)
    assert str(err) == "tokens limit reached: 950 of 900 per day, resets 2025-03-06 00:00 UTC"  # the audit's record
    assert describe_error(err, "r1") == (
        "⛔ You have used 950 of 900 tokens this day; resets at 00:00 UTC on Thu 6 Mar. (run `r1`)"
    )
    usd = Refusal(Limit.USD, 80_000, 100_000, Period.DAY, datetime(2025, 3, 6, tzinfo=UTC))
    assert describe_error(BudgetRefused(usd), "r1").startswith("⛔ You have used $0.0800 of $0.1000 this day; resets")
    # Another host's Budget may raise the executor's own BudgetExceeded, with its own words.
    assert describe_error(BudgetExceeded("no runs left"), "r2") == "⛔ no runs left (run `r2`)"


def test_a_model_call_refused_mid_run_says_budget_reached() -> None:
    resets = datetime(2025, 3, 6, tzinfo=UTC)
    short = CallRefused(Refusal(Limit.USD, 95_000, 100_000, Period.DAY, resets, needed=41_000))
    assert str(short).startswith("usd limit reached: ")  # the audit's record
    assert describe_error(short, "r1") == (
        "⛔ Budget reached: you have used $0.0950 of $0.1000 this day, and the next model call could cost up to "
        "$0.0410, so the run stopped here; resets at 00:00 UTC on Thu 6 Mar. (run `r1`)"
    )
    unpriced = CallRefused(Refusal(Limit.USD, 0, 100_000, Period.DAY, resets, unpriced_model="llama3.1:8b"))
    line = describe_error(unpriced, "r2")
    assert "`llama3.1:8b` has no known price" in line and "MODEL_PRICE_DEFAULT" in line


def test_a_loop_guard_says_tool_use_was_stopped_not_the_run() -> None:
    """After a guard the model still answers without tools (that answer is
    posted above this line), so the line says what stopped: tool use."""
    from executor.errors import LoopGuardTripped

    line = describe_error(LoopGuardTripped("same_tool_call_repeats", "x"), "r1")
    assert "same tool call repeats" in line and "tool use was stopped" in line and line.endswith("(run `r1`)")


def test_mcp_list_says_why_a_server_is_down_and_what_is_held() -> None:
    text = servers_list(
        [
            ServerState("files", "stdio", Status.RUNNING, tools=("read", "write"), held=("write",), starts=3),
            ServerState("github", "http", Status.FAILED, error="ConnectError: refused", retry_in=4.2),
            ServerState("docs", "http", Status.IDLE),
        ]
    )
    assert "🟢 **files** (stdio) · running · restarted 2×" in text
    assert "held for review (not offered): `write`" in text
    assert "🔴 **github** (http) · failed\n  problem: ConnectError: refused (next try in 4 s)" in text
    assert "starts when a run first needs it" in text


def test_an_approval_request_shows_the_call_without_breaking_its_code_block() -> None:
    by = ("role:Mods", "role:123")
    request = ApprovalRequest("run1", "a", "7", "g", "t", "c1", "github__create_issue", '{"title": "```x```"}', by, 300)
    text = approval_asked(request)
    assert "`github__create_issue`" in text and "**Mods** or <@&123>" in text
    assert text.count("```") == 2  # the model's backticks cannot close the block
