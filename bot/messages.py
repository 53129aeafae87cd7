"""The text members read, written in one place.

Run failures, budget refusals, run and usage listings, limits. The numbers
and names come from the store's types (``Refusal``, ``Limits``, ``Limit``);
the sentences are written here. Splitting text into Discord messages is
mechanics, not wording: ``bot/text.py``.

Run failures: provider errors are already free of secrets and of the
provider's address; anything unknown is reduced to its type name so an
unexpected message can never leak a token into a channel.
"""

from __future__ import annotations

from bot.attachments import IMAGES_ACCEPTED
from bot.store import (
    InvalidLimit,
    Limit,
    LimitProblem,
    Limits,
    MemberUsage,
    Period,
    Refusal,
    RunDetail,
    RunSummary,
    Spender,
    Spent,
    StoredStatus,
)
from bot.store.budget import BudgetRefused
from bot.store.limits import MAX_LIMIT, amount_text
from bot.text import fit
from executor import (
    BudgetExceeded,
    CriticKilled,
    LoopGuardTripped,
    ModelResolutionError,
    RunCancelled,
    RunTimeout,
    ToolboxError,
)
from executor.llm import (
    AuthenticationError,
    ContextTooLongError,
    ImageRejectedError,
    ModelError,
    ProviderUnavailableError,
    RateLimitError,
)

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

# -- run failures ------------------------------------------------------------


def describe_error(err: BaseException, run_id: str) -> str:
    """``⚠️ <what happened and what to do> (run `id`)``, under 400 characters."""
    return f"{_error_text(err)[:350]} (run `{run_id}`)"


def _error_text(err: BaseException) -> str:
    match err:
        case BudgetRefused():
            return f"⛔ {refusal_text(err.refusal)}"
        case BudgetExceeded():
            return f"⛔ {err}"
        case RunTimeout():
            return f"⏱️ {err}. Try a narrower question, or ask an admin for a longer limit."
        case RunCancelled():
            return f"🛑 Run cancelled ({err})."
        case CriticKilled():
            return "🛑 The run was stopped because it stopped making progress. Try rephrasing the request."
        case LoopGuardTripped():
            return f"🔁 The agent got stuck ({err.guard.replace('_', ' ')}) and was stopped. Try rephrasing."
        case ModelResolutionError():
            return f"⚙️ No model is available: {err}"
        case ToolboxError():
            return f"⚙️ This agent is misconfigured: {err}. An admin needs to fix its file."
        case AuthenticationError():
            return f"🔑 {_provider(err)} rejected the bot's credentials; an admin needs to check the API key."
        case RateLimitError():
            return f"🐢 {_provider(err)} is rate-limiting the bot. Try again in a minute."
        case ContextTooLongError():
            return "📚 The conversation is too long for the model. Start a new thread with /ask."
        case ImageRejectedError():
            return (
                f"🖼️ {_provider(err)} refused an image in this conversation, so the thread's images were removed: "
                f"write again to go on without them, or attach {IMAGES_ACCEPTED}."
            )
        case ProviderUnavailableError():
            return f"📡 {_provider(err)} is not answering right now. Try again in a few minutes."
        case ModelError():
            return f"⚠️ The model request failed: {err}"
        case _:
            return f"⚠️ Something went wrong inside the run ({type(err).__name__})."


def _provider(err: ModelError) -> str:
    """The provider by name (never by address: that stays in the log)."""
    return f"The model provider ({err.provider})" if err.provider else "The model provider"


# -- budgets -------------------------------------------------------------------


def refusal_text(refusal: Refusal) -> str:
    """Why the member's run did not start: which limit, the numbers, and when it resets."""
    limit = refusal.limit
    if refusal.allowed == 0:
        per = f" per {refusal.period}" if refusal.period else ""
        return f"Your limit here is 0 {limit.noun}{per}, so you cannot start runs; ask a server admin."
    used, allowed = amount_text(refusal.used), amount_text(refusal.allowed)
    if refusal.period is None or refusal.resets_at is None:
        return f"You already have {used} of {allowed} runs going at once; wait for one to finish, then try again."
    reset = refusal.resets_at
    return (
        f"You have used {used} of {allowed} {limit.noun} this {refusal.period}; "
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


# -- runs ----------------------------------------------------------------------


def run_line(run: RunSummary, show_caller: bool) -> str:
    who = f" · <@{run.caller_id}>" if show_caller else ""
    when = int(run.started_at.timestamp())
    return (
        f"{STATUS_ICON[run.status]} `{run.run_id}` **{run.agent_id}** {run.status} · {run.runtime_seconds:.1f} s · "
        f"{run.usage.total_tokens:,} tok{who} · <t:{when}:R>"
    )


def run_detail(detail: RunDetail, limit: int = 1900) -> str:
    r = detail.run
    lines = [
        f"{STATUS_ICON[r.status]} Run `{r.run_id}` · **{r.agent_id}** · {r.status} · <@{r.caller_id}>",
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
