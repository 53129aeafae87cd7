"""Runs as members list them: one icon per status, /runs and /run."""

from __future__ import annotations

from collections.abc import Iterable

from bot.splitting import DISCORD_LIMIT, fit
from bot.store import RunDetail, RunSummary, StoredStatus
from executor.llm.pricing import format_usd

#: One icon for every status a run can have, stored or live.
STATUS_ICON: dict[StoredStatus, str] = {
    StoredStatus.OK: "✅",
    StoredStatus.ERROR: "⚠️",
    StoredStatus.TIMEOUT: "⏱️",
    StoredStatus.CANCELLED: "🛑",
    StoredStatus.KILLED: "🛑",
    StoredStatus.RUNNING: "⚙️",
    StoredStatus.INTERRUPTED: "⚠️",
    StoredStatus.REJECTED: "⛔",
}

NO_RUNS = "No runs yet."
OTHERS_RUNS_ARE_ADMINS = "⛔ Only members with **Manage Server** can see other members' runs."


def no_such_run(run_id: str) -> str:
    return f"No run `{fit(run_id, 40)}` of yours here. /runs lists your recent runs."


def runs_list(runs: Iterable[RunSummary], show_caller: bool) -> str:
    return fit("\n".join(run_line(r, show_caller) for r in runs))


def run_line(run: RunSummary, show_caller: bool) -> str:
    who = f" · <@{run.caller_id}>" if show_caller else ""
    when = int(run.started_at.timestamp())
    return (
        f"{STATUS_ICON[run.status]} `{run.run_id}` **{run.agent_id}** {run.status} · {run.runtime_seconds:.1f} s · "
        f"{run.usage.total_tokens:,} tok · {format_usd(run.usage.cost)}{who} · <t:{when}:R>"
    )


def run_detail(detail: RunDetail, limit: int = DISCORD_LIMIT) -> str:
    r = detail.run
    lines = [
        f"{STATUS_ICON[r.status]} Run `{r.run_id}` · **{r.agent_id}** · {r.status} · <@{r.caller_id}>",
        f"model `{r.model or r.tier}` · {r.runtime_seconds:.1f} s · {r.steps} steps · {r.tool_calls} tool calls · "
        f"{r.usage.input_tokens:,} in / {r.usage.output_tokens:,} out tokens · {format_usd(r.usage.cost)}"
        + (" · step limit hit" if r.ceiling_hit else ""),
    ]
    if r.parent_run_id:
        lines.append(f"sub-run of `{r.parent_run_id}`")
    lines.append(f"> {_one_line(r.input, 200)}")
    for c in detail.tool_calls:
        mark = "❌" if c.is_error else "✔️"
        lines.append(f"{mark} step {c.step + 1}: `{c.name}` {_one_line(c.arguments, 80)} → {_one_line(c.result, 100)}")
    for e in detail.events:
        lines.append(f"• event `{e.kind}` {_one_line(str(e.data), 120)}")
    if r.error:
        lines.append(f"error: {_one_line(r.error, 300)}")
    return fit("\n".join(lines), limit)


def _one_line(text: str, width: int) -> str:
    return fit(" ".join(text.split()), width)
