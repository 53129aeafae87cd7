"""Budgets as members and admins read them: why a run was refused, why a
limit was not stored, limits, usage and top spenders."""

from __future__ import annotations

from bot.splitting import fit
from bot.store import (
    MAX_LIMIT,
    InvalidLimit,
    Limit,
    LimitProblem,
    Limits,
    MemberUsage,
    Period,
    Refusal,
    Spender,
    Spent,
)
from bot.store.limits import amount_text


def refusal_text(refusal: Refusal) -> str:
    """Why the member's run did not start: which limit, the numbers, and when it resets."""
    limit = refusal.limit
    # The personal (DM) budget is the bot operator's, not a server admin's.
    where, who = (" in DMs", "the bot's operator") if refusal.personal else ("", "a server admin")
    if refusal.allowed == 0:
        per = f" per {refusal.period}" if refusal.period else ""
        return f"Your limit{where or ' here'} is 0 {limit.noun}{per}, so you cannot start runs; ask {who}."
    used, allowed = amount_text(refusal.used), amount_text(refusal.allowed)
    if refusal.period is None or refusal.resets_at is None:
        return f"You already have {used} of {allowed} runs going at once; wait for one to finish, then try again."
    reset = refusal.resets_at
    return (
        f"You have used {used} of {allowed} {limit.noun}{where} this {refusal.period}; "
        f"resets at 00:00 UTC on {reset:%a} {reset.day} {reset:%b}."
    )


def invalid_limit_text(err: InvalidLimit) -> str:
    """Why an admin's limit was not stored, and what to give instead."""
    name, value = err.limit.key, err.value
    match err.problem:
        case LimitProblem.NEGATIVE:
            return f"{name} cannot be negative (got {value}); use 0 to allow none, or clear it for no limit"
        case LimitProblem.NOT_FINITE:
            return f"{name} must be finite; got {value!r} (clear it instead for no limit)"
        case LimitProblem.TOO_BIG:
            return f"{name} can be at most {MAX_LIMIT:,} (got {value:,}); clear it for no limit"
        case LimitProblem.NOT_WHOLE:
            return f"{name} must be a whole number; got {value!r}"
        case _:
            return f"{name} must be a number; got {value!r}"


def _amount_of(limit: Limit, value: float) -> str:
    """An amount with its unit (``60 s``), or its noun when it has none (``3 runs``)."""
    return f"{value:,.0f}{limit.unit}" if limit.unit else f"{value:,.0f} {limit.noun}"


NO_LIMIT_GIVEN = f"Give at least one limit ({', '.join(limit.key for limit in Limit)}) or `clear`."


def nothing_changed(err: InvalidLimit) -> str:
    return f"⚠️ Nothing changed: {invalid_limit_text(err)}."


def limits_set(member_mention: str | None, limits: Limits) -> str:
    """The limits just stored, of a member or (``None``) the server default."""
    who = member_mention or "the server default"
    return f"Limits for {who} (unset ones follow the server default):\n{limits_text(limits)}"


def spenders_and_default(spenders: list[Spender], period: Period, default: Limits) -> str:
    return fit(f"{spenders_text(spenders, period)}\n**Server default limits**\n{limits_text(default)}")


def limits_reset(mention: str, removed: bool) -> str:
    return f"{mention} now follows the server default." if removed else f"{mention} had no limits of their own."


def limits_text(limits: Limits) -> str:
    lines = []
    for limit in Limit:
        amount = limits.amount(limit)
        shown = "unlimited" if amount is None else f"{amount:,.0f}{limit.unit}"
        per = f" per {limits.period(limit)}" if limit.per_period else ""
        lines.append(f"{limit.key}: {shown}{per}")
    return "\n".join(lines)


def _spent_text(spent: Spent) -> str:
    return " · ".join(_amount_of(limit, spent.of(limit)) for limit in Limit if limit.per_period)


def usage_text(usage: MemberUsage) -> str:
    lines = [f"**Usage of <@{usage.member_id}>** (UTC periods; {usage.running} running now)"]
    for period in Period:
        p = usage.periods[period]
        lines.append(f"this {period.value}: {_spent_text(p.spent)} (resets <t:{int(p.resets_at.timestamp())}:R>)")
    lines.append("**Limits**")
    lines.append(limits_text(usage.limits))
    return "\n".join(lines)


def spenders_text(spenders: list[Spender], period: Period) -> str:
    if not spenders:
        return f"Nobody has spent anything this {period.value}."
    rows = [f"{i}. <@{s.member_id}> · {_spent_text(s.spent)}" for i, s in enumerate(spenders, 1)]
    return f"**Top spenders this {period.value}**\n" + "\n".join(rows)
