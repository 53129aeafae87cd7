"""A failed run as one short line a member can act on.

The one place executor and provider errors become Discord text. Provider
errors are already free of secrets and of the provider's address; anything
unknown is reduced to its type name so an unexpected message can never leak
a token into a channel.
"""

from __future__ import annotations

from bot.messages.budget import call_refusal_text, refusal_text
from bot.messages.conversation import IMAGES_ACCEPTED
from bot.store import BudgetRefused, CallRefused
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
    StreamInterruptedError,
)


def describe_error(err: BaseException, run_id: str) -> str:
    """``⚠️ <what happened and what to do> (run `id`)``, under 400 characters."""
    return f"{_error_text(err)[:350]} (run `{run_id}`)"


def _error_text(err: BaseException) -> str:
    match err:
        case BudgetRefused():
            return f"⛔ {refusal_text(err.refusal)}"
        case CallRefused():
            return f"⛔ {call_refusal_text(err.refusal)}"
        case BudgetExceeded():
            return f"⛔ {err}"
        case RunTimeout():
            return f"⏱️ {err}. Try a narrower question, or ask an admin for a longer limit."
        case RunCancelled():
            return f"🛑 Run cancelled ({err})."
        case CriticKilled():
            return "🛑 The run was stopped because it stopped making progress. Try rephrasing the request."
        case LoopGuardTripped():
            return f"🔁 The agent got stuck ({err.guard.replace('_', ' ')}), so its tool use was stopped. Try rephrasing."
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
        case StreamInterruptedError():
            return (
                f"✂️ {_provider(err)} broke off its answer while writing it, so what was shown so far is withdrawn. "
                "Try again."
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
