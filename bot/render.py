"""Text for runs, usage and limits, as members see them in Discord."""

from __future__ import annotations

from bot.store import Limits, MemberUsage, Period, RunDetail, Spender
from bot.store.runs import RunSummary
from bot.text import fit

STATUS_ICON = {"ok": "✅", "error": "⚠️", "timeout": "⏱️", "cancelled": "🛑", "killed": "🛑", "running": "⚙️"}


def run_line(run: RunSummary, show_caller: bool) -> str:
    icon = STATUS_ICON.get(run.status, "•")
    who = f" · <@{run.caller_id}>" if show_caller else ""
    when = int(run.started_at.timestamp())
    return (
        f"{icon} `{run.run_id}` **{run.agent_id}** {run.status} · {run.runtime_seconds:.1f} s · "
        f"{run.usage.total_tokens:,} tok{who} · <t:{when}:R>"
    )


def run_detail(detail: RunDetail, limit: int = 1900) -> str:
    r = detail.run
    lines = [
        f"{STATUS_ICON.get(r.status, '•')} Run `{r.run_id}` · **{r.agent_id}** · {r.status} · <@{r.caller_id}>",
        f"model `{r.model or r.tier}` · {r.runtime_seconds:.1f} s · {r.steps} steps · {r.tool_calls} tool calls · "
        f"{r.usage.input_tokens:,} in / {r.usage.output_tokens:,} out tokens" + (" · step limit hit" if r.ceiling_hit else ""),
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


def _limit(value: float | None, unit: str = "") -> str:
    if value is None:
        return "unlimited"
    return f"{value:,.0f}{unit}"


def limits_text(limits: Limits) -> str:
    return "\n".join(
        [
            f"runs: {_limit(limits.max_runs)} per {limits.period('runs_period').value}",
            f"tokens: {_limit(limits.max_tokens)} per {limits.period('tokens_period').value}",
            f"runtime: {_limit(limits.max_runtime_seconds, ' s')} per {limits.period('runtime_period').value}",
            f"concurrent runs: {_limit(limits.max_concurrent)}",
        ]
    )


def usage_text(usage: MemberUsage) -> str:
    lim = usage.limits
    lines = [f"**Usage of <@{usage.member_id}>** (UTC periods; {usage.running} running now)"]
    for period in Period:
        p = usage.periods[period]
        s = p.spent
        lines.append(
            f"this {period.value}: {s.runs} runs · {s.tokens:,} tokens · {s.runtime_seconds:,.0f} s "
            f"(resets <t:{int(p.resets_at.timestamp())}:R>)"
        )
    lines.append("**Limits**")
    lines.append(limits_text(lim))
    return "\n".join(lines)


def spenders_text(spenders: list[Spender], period: Period) -> str:
    if not spenders:
        return f"Nobody has spent anything this {period.value}."
    rows = [
        f"{i}. <@{s.member_id}> · {s.spent.tokens:,} tokens · {s.spent.runs} runs · {s.spent.runtime_seconds:,.0f} s"
        for i, s in enumerate(spenders, 1)
    ]
    return f"**Top spenders this {period.value}**\n" + "\n".join(rows)
