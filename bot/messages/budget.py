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
    LimitUse,
    MemberUsage,
    Period,
    Refusal,
    Spender,
    Spent,
)
from bot.store.limits import amount_text
from executor.llm.pricing import MICROS_PER_USD, format_usd


def refusal_text(refusal: Refusal) -> str:
    """Why the member's run did not start: which limit, the numbers, and when it resets."""
    limit = refusal.limit
    # The personal (DM) budget is the bot operator's, not a server admin's.
    where, who = (" in DMs", "the bot's operator") if refusal.personal else ("", "a server admin")
    if refusal.allowed == 0:
        per = f" per {refusal.period}" if refusal.period else ""
        return f"Your limit{where or ' here'} is {_amount_of(limit, 0)}{per}, so you cannot start runs; ask {who}."
    if refusal.period is None or refusal.resets_at is None:
        used, allowed = amount_text(refusal.used), amount_text(refusal.allowed)
        return f"You already have {used} of {allowed} runs going at once; wait for one to finish, then try again."
    return f"You have used {_used_of(refusal)}{where} this {refusal.period}; {_resets(refusal)}."


def call_refusal_text(refusal: Refusal) -> str:
    """Why a run stopped before a model call: the money left does not cover
    the call's worst case, or its model has no known price while a USD limit applies."""
    if refusal.unpriced_model:
        where, who = ("your DMs", "The bot's operator") if refusal.personal else ("this server", "An admin")
        return (
            f"Budget reached: spending in {where} is limited in USD and the model `{refusal.unpriced_model}` has no "
            f"known price, so it is not used. {who} can set its price (MODEL_PRICES) or a default price "
            "(MODEL_PRICE_DEFAULT)."
        )
    needs = format_usd(int(refusal.needed))
    return (
        f"Budget reached: you have used {_used_of(refusal)} this {refusal.period}, and the next model call could "
        f"cost up to {needs}, so the run stopped here; {_resets(refusal)}."
    )


def warning_text(member_id: str, use: LimitUse) -> str:
    """The notice a member gets once a period when they pass the warning share of a limit."""
    return (
        f"⚠️ <@{member_id}>, you have used {_used_of(use)} this {use.period} ({use.percent:.0f} % of your "
        f"limit); it {_resets(use)}."
    )


def cheaper_tier_text(use: LimitUse, tier: str) -> str:
    """Why this run uses its agent's cheaper tier."""
    return f"💸 You have used {use.percent:.0f} % of your {use.limit.key} limit this {use.period}, so this run uses the cheaper `{tier}` tier."


def near_limits_text(near: list[tuple[str, LimitUse]], percent: float) -> str:
    """Who has used ``percent`` % or more of a limit, for admins."""
    if not near:
        return f"Nobody is at {percent:.0f} % of a limit."
    rows = [f"<@{m}> · {u.limit.key} {_used_of(u)} ({u.percent:.0f} %) this {u.period}" for m, u in near]
    return f"**Near their limits** (from {percent:.0f} %)\n" + "\n".join(rows)


def _used_of(refusal: Refusal | LimitUse) -> str:
    """``$0.0800 of $0.10`` or ``12 of 20 runs``."""
    limit = refusal.limit
    if limit is Limit.USD:
        return f"{format_usd(int(refusal.used))} of {format_usd(int(refusal.allowed))}"
    return f"{amount_text(refusal.used)} of {amount_text(refusal.allowed)} {limit.noun}"


def _resets(refusal: Refusal | LimitUse) -> str:
    reset = refusal.resets_at
    return f"resets at 00:00 UTC on {reset:%a} {reset.day} {reset:%b}" if reset is not None else "ask a server admin"


def invalid_limit_text(err: InvalidLimit) -> str:
    """Why an admin's limit was not stored, and what to give instead."""
    name, value = err.limit.key, err.value
    if err.limit is Limit.USD and isinstance(value, int | float):
        value = value / MICROS_PER_USD  # admins typed dollars
    match err.problem:
        case LimitProblem.NEGATIVE:
            return f"{name} cannot be negative (got {value}); use 0 to allow none, or clear it for no limit"
        case LimitProblem.NOT_FINITE:
            return f"{name} must be finite; got {value!r} (clear it instead for no limit)"
        case LimitProblem.TOO_BIG:
            most = MAX_LIMIT / MICROS_PER_USD if err.limit is Limit.USD else MAX_LIMIT
            return f"{name} can be at most {most:,.0f} (got {value:,}); clear it for no limit"
        case LimitProblem.NOT_WHOLE:
            return f"{name} must be a whole number; got {value!r}"
        case _:
            return f"{name} must be a number; got {value!r}"


def _amount_of(limit: Limit, value: float, *, noun: bool = True) -> str:
    """An amount with its unit (``60 s``), its noun when it has none (``3 runs``;
    ``noun=False``: ``3``, a limit as set), or money (``$1.50``)."""
    if limit is Limit.USD:
        return format_usd(int(value))
    if limit.unit or not noun:
        return f"{value:,.0f}{limit.unit}"
    return f"{value:,.0f} {limit.noun}"


NO_LIMIT_GIVEN = f"Give at least one limit ({', '.join(limit.key for limit in Limit)}) or `clear`."


def nothing_changed(err: InvalidLimit) -> str:
    return f"⚠️ Nothing changed: {invalid_limit_text(err)}."


def limits_set(mention: str | None, limits: Limits) -> str:
    """The limits just stored, of a member or role or (``None``) the server default."""
    who = mention or "the server default"
    return f"Limits for {who} (unset ones follow the roles' limits, then the server default):\n{limits_text(limits)}"


def spenders_and_default(spenders: list[Spender], period: Period, default: Limits, near: str) -> str:
    """``/budget show`` without a member: top spenders, who is near a limit, the server default."""
    return fit(f"{spenders_text(spenders, period)}\n{near}\n**Server default limits**\n{limits_text(default)}")


def limits_reset(mention: str, removed: bool) -> str:
    return f"{mention} now follows the server default." if removed else f"{mention} had no limits of their own."


def limits_text(limits: Limits) -> str:
    lines = []
    for limit in Limit:
        amount = limits.amount(limit)
        shown = "unlimited" if amount is None else _amount_of(limit, amount, noun=False)
        per = f" per {limits.period(limit)}" if limit.per_period else ""
        lines.append(f"{limit.key}: {shown}{per}")
    return "\n".join(lines)


def _spent_text(spent: Spent) -> str:
    parts = [_amount_of(limit, spent.of(limit)) for limit in Limit if limit.per_period and limit is not Limit.USD]
    return " · ".join([*parts, _money(spent)])


def _money(spent: Spent) -> str:
    """Money spent; calls of unknown price are said, since the sum leaves them out."""
    unpriced = f" + {spent.unpriced_calls} calls of unknown cost" if spent.unpriced_calls else ""
    return f"{format_usd(spent.usd_micros)}{unpriced}"


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
