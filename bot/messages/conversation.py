"""What members read in agent threads: starting and continuing a
conversation, attachments the agent will not see, the progress message and
the answer, cancelling, and refused commands."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from bot.messages.runs import STATUS_ICON
from bot.splitting import fit
from bot.store import StoredStatus
from executor import Result
from executor.llm.pricing import format_usd
from executor.tools.builtin import MAX_IMAGE_BYTES

# -- commands ----------------------------------------------------------------------

ADMINS_ONLY = "⛔ You need the **Manage Server** permission for this command."
NOT_ALLOWED_HERE = "You are not allowed to use this command here."
COMMAND_FAILED = "⚠️ Something went wrong handling that command. It has been logged; try again."

# -- conversations ---------------------------------------------------------------

#: The prompt of a message that brings only files.
FILES_ONLY_PROMPT = "Look at the attached file(s)."
NO_THREADS = (
    "I cannot open a thread in this channel: a server admin needs to give me "
    "**Create Public Threads** and **Send Messages in Threads** here."
)
ASK_IN_A_TEXT_CHANNEL = "Use /ask in a text channel or a thread; inside an agent thread, just write your follow-up as a message."
ALREADY_AN_AGENT_THREAD = "This thread already talks to an agent: write your follow-up as a message here."
EMPTY_MENTION = "Ask me something after the mention, or use /ask."
NOT_AN_AGENT_THREAD = "This is not an agent thread."
#: A thread title's length, well inside Discord's 100.
TITLE_WIDTH = 90


def thread_title(prompt: str) -> str:
    """A thread title from the prompt: first line, trimmed, never empty."""
    first = " ".join(prompt.strip().split("\n", 1)[0].split())
    return fit(first, TITLE_WIDTH) if first else "Agent run"


def unknown_agent(name: str, available: Iterable[str]) -> str:
    names = ", ".join(f"`{a}`" for a in available) or "none"
    return fit(f"There is no agent called `{fit(name, 100)}`. Agents you can run: {names}.")


def agent_not_allowed(agent_id: str) -> str:
    return f"You are not allowed to run `{agent_id}`. Use /agents to see the ones you can."


def agent_choice(name: str, description: str) -> str:
    """An agent as /ask's autocomplete offers it (Discord shows 100 characters)."""
    return f"{name} — {description}"[:100]


def agents_list(agents: Iterable[tuple[str, str, str]], default: str) -> str:
    """/agents: ``(id, name, description)`` of each agent the member may run."""
    lines = [f"**{name}** (`{id_}`){' · default' if id_ == default else ''}: {about}" for id_, name, about in agents]
    return fit("\n".join(lines)) if lines else "No agent is available to you here."


def answering_in(agent_name: str, thread_mention: str) -> str:
    return fit(f"🧵 **{agent_name}** is answering in {thread_mention}")


def asked_by(display_name: str) -> str:
    """The header over a /ask prompt quoted in its thread."""
    return f"**{display_name}** asked:"


def only_the_starter(starter_id: str) -> str:
    return (
        f"Only <@{starter_id}> can continue this conversation. "
        "Start your own with /ask, or ask an admin to run /thread open here."
    )


def agent_gone(agent_id: str) -> str:
    return f"The agent `{agent_id}` of this thread is no longer available. Start a new one with /ask."


def to_member(mention: str, text: str) -> str:
    """An answer to a member's message, naming them (nobody is pinged)."""
    return fit(f"{mention} {text}")


def thread_opened(open_to_all: bool) -> str:
    who = "everyone" if open_to_all else "only the member who started it"
    return f"This thread now takes follow-ups from {who}."


# -- attachments -------------------------------------------------------------------

#: What members may attach, as the bot tells them.
IMAGES_ACCEPTED = f"PNG, JPEG, GIF or WebP images up to {MAX_IMAGE_BYTES // 1_000_000} MB"
#: Left in the text of a stored message whose images were dropped.
IMAGES_DROPPED = "[image removed: the model provider refused an image in this conversation]"
#: File names are quoted in Discord messages; a long one is shortened there.
NAME_WIDTH = 80


def file_refused(filename: str, reason: str) -> str:
    """One attachment the agent will not see, and why (``reason`` from the image checks)."""
    return f"`{fit(filename, NAME_WIDTH)}` {reason}"


def download_failed(status: int) -> str:
    return f"could not be downloaded (HTTP {status}); attach it again"


def files_refused(refused: Sequence[str]) -> str | None:
    """The message that tells the member which files the agent will not see, and why."""
    if not refused:
        return None
    lines = "\n".join(f"- {r}" for r in refused)
    return fit(f"⚠️ Not passed to the agent:\n{lines}\nThe agent takes {IMAGES_ACCEPTED}; it answers without these.")


# -- the progress message and the answer -------------------------------------------

CANCEL_LABEL = "Cancel"
EMPTY_ANSWER = "(The agent finished without a written answer.)"


def _run_footer(run_id: str, extra: str = "") -> str:
    return f"-# run `{run_id}`{extra}"


def progress_starting(agent_name: str, run_id: str) -> str:
    return f"⚙️ **{agent_name}** is starting…\n{_run_footer(run_id)}"


#: Said on the progress message of a run resumed after its process died.
RESUMED = "resumed after a restart"


def progress_resumed(agent_name: str, run_id: str) -> str:
    return f"⚙️ **{agent_name}** {RESUMED}…\n{_run_footer(run_id)}"


def progress_working(
    agent_name: str,
    step: int,
    max_steps: int,
    running: Iterable[str],
    done: Sequence[str],
    run_id: str,
    seconds: float,
    choosing: Sequence[str] = (),
    resumed: bool = False,
    awaiting: Collection[str] = (),
) -> str:
    """``running``: tools going now; ``done``: finished ones as ``tool_done`` made
    them, newest last; ``choosing``: tools the model is writing a call to;
    ``resumed``: the run was resumed after a restart; ``awaiting``: tools
    whose calls wait for a person's approval (shown as that, not as running)."""
    lines = [f"⚙️ **{agent_name}** is working · step {step} of {max_steps}" + (f" · {RESUMED}" if resumed else "")]
    if choosing:
        lines.append("choosing " + ", ".join(f"`{t}`" for t in choosing) + "…")
    awaited = set(awaiting)
    if awaited:
        lines.append("⏳ waiting for approval of " + ", ".join(f"`{t}`" for t in awaiting) + " (the buttons below)")
    tools = [f"`{t}`" for t in running if t not in awaited]
    if tools:
        lines.append("running " + ", ".join(tools))
    if done:
        lines.append(" · ".join(done))
    lines.append(_run_footer(run_id, f" · {seconds:.0f} s"))
    return "\n".join(lines)


def tool_done(tool: str, failed: bool) -> str:
    return ("❌ " if failed else "✔️ ") + tool


def progress_finished(agent_name: str, result: Result, resumed: bool = False) -> str:
    """``resumed``: the run was resumed after a restart (its runtime counts both parts)."""
    u = result.usage
    parts = [
        f"{STATUS_ICON[StoredStatus(result.status)]} **{agent_name}** {result.status.value}",
        f"{result.runtime_seconds:.1f} s",
        f"{len(result.steps)} tool call{'s' if len(result.steps) != 1 else ''}",
        f"{u.total_tokens:,} tokens",
        f"cost {format_usd(u.cost)}",
    ]
    if result.ceiling_hit:
        parts.append("step limit reached")
    if resumed:
        parts.append(RESUMED)
    return " · ".join(parts) + "\n" + _run_footer(result.run_id)


def progress_interrupted(agent_name: str, run_id: str) -> str:
    status = StoredStatus.INTERRUPTED
    return (
        f"{STATUS_ICON[status]} **{agent_name}** {status} · the bot stopped before this run finished; ask again"
        f"\n{_run_footer(run_id)}"
    )


def interrupted_note(run_id: str) -> str:
    return (
        "⚠️ This run was cut off when the bot stopped, so it has no answer. "
        f"Ask again here to run it once more.\n{_run_footer(run_id)}"
    )


def too_big_to_attach(files: Iterable[tuple[str, int]], limit: int) -> str:
    """``files``: ``(name, bytes)`` of each artifact over the upload limit."""
    names = ", ".join(f"`{name}` ({size / 1_048_576:.1f} MiB)" for name, size in files)
    return fit(f"📎 Not attached, larger than this server's upload limit of {limit / 1_048_576:.0f} MiB: {names}")


# -- cancelling ---------------------------------------------------------------------

NO_RUN_HERE = "You have no run going in this channel."
#: Why runs in flight end when the bot stops (shown as "Run cancelled (...)").
SHUTTING_DOWN = "the bot is shutting down"
CANCEL_NOT_YOURS = "Only the member who started this run, or an admin, can cancel it."


def cancelled_by(member_id: int) -> str:
    return f"cancelled by <@{member_id}>"


def not_running(run_id: str) -> str:
    return f"Run `{fit(run_id, 40)}` is not running any more."


def cancelling(run_id: str) -> str:
    return f"Cancelling run `{run_id}`…"
