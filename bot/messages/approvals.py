"""What members read about approval gates: the request in the thread, its
outcome, and the answers to clicks on Approve and Deny."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from bot.approvals import role_named
from bot.splitting import fit
from executor import ApprovalDecision, ApprovalRequest

APPROVE_LABEL = "Approve"
DENY_LABEL = "Deny"
APPROVAL_GONE = "This request was already decided or has timed out."

#: Room for the arguments in the request message.
_ARGUMENTS_WIDTH = 1200


def approval_asked(request: ApprovalRequest) -> str:
    deadline = int(time.time() + request.timeout)
    return fit(
        f"✋ The agent wants to run `{request.tool}` and needs approval from {deciders(request.by)}.\n"
        f"```json\n{_arguments(request.arguments)}\n```"
        f"Run `{request.run_id}` waits until <t:{deadline}:T> (<t:{deadline}:R>); then the call is not run."
    )


def approval_settled(request: ApprovalRequest, decision: ApprovalDecision) -> str:
    if decision.approved:
        outcome = f"✅ approved by <@{decision.by}>"
    elif decision.reason == "denied":
        outcome = f"🚫 denied by <@{decision.by}>"
    elif decision.reason == "timeout":
        outcome = "⏱️ not decided in time: not run"
    else:
        outcome = f"🚫 not run: {decision.reason}"
    return fit(f"`{request.tool}` (run `{request.run_id}`): {outcome}.")


def approval_recorded(approved: bool) -> str:
    return "Approved: the call runs now." if approved else "Denied: the agent is told the call was not run."


def approval_not_allowed(by: Sequence[str]) -> str:
    return f"⛔ Only {deciders(by)} can decide this."


def deciders(by: Sequence[str]) -> str:
    names = [name for name in map(role_named, by) if name is not None]
    roles = [f"<@&{name}>" if name.isdigit() else f"**{name}**" for name in names]
    named = f"members with the role {' or '.join(roles)}, or " if roles else ""
    return f"{named}members with **Manage Server**"


def _arguments(arguments: str) -> str:
    try:
        text = json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except ValueError:
        text = arguments
    # The model wrote them: they must not close the code block early.
    return fit(text.replace("```", "ʼʼʼ"), _ARGUMENTS_WIDTH)
