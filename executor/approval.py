"""Approval gates: a tool call that waits for a person's yes before it runs.

An agent names the tools whose calls need approval (``ApprovalPolicy``); the
run asks the host's ``Approver`` before each such call runs, and the answer
is the host's to get (Discord buttons in the run's thread). A denial or no
answer in time goes back to the model as the tool's result, so it can say
so or try something else; the decision is an event in the run's audit.

Time spent waiting for a person is not the run's working time: it does not
count toward ``max_runtime`` nor the runtime the run reports (and its caller
is charged), and the critic does not see the run as idle.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from executor.llm.types import ToolCall
from executor.tools.base import ToolResult
from executor.tools.invocation import Invocation

log = logging.getLogger(__name__)

#: Default seconds a gated call waits for a decision.
DEFAULT_APPROVAL_TIMEOUT = 300.0
#: Seconds past its own timeout an approver may take before the gate stops waiting for it.
APPROVAL_GRACE = 5.0


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """Which tools of an agent need approval, who may give it (in the host's
    words, e.g. ``role:Moderators``) and how long a call waits for it."""

    tools: frozenset[str]
    by: tuple[str, ...] = ()
    timeout: float = DEFAULT_APPROVAL_TIMEOUT

    def covers(self, tool: str) -> bool:
        return tool in self.tools


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One call waiting for a decision: the run, where it answers, the call."""

    run_id: str
    agent_id: str
    caller_id: str
    guild_id: str
    channel_id: str
    call_id: str
    tool: str
    arguments: str
    by: tuple[str, ...]
    timeout: float


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """``approved`` or not; ``by`` who decided (empty when nobody did);
    ``reason`` how it ended: ``approved``, ``denied``, ``timeout`` or why
    nobody could decide."""

    approved: bool
    by: str = ""
    reason: str = ""


class Approver(Protocol):
    """The host's side of approval gates."""

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        """Ask for a decision and wait for it, at most ``request.timeout``
        seconds (then a ``timeout`` denial). Raises nothing but CancelledError
        when its caller is cancelled; the executor bounds it anyway."""


LogEvent = Callable[[str, dict[str, Any]], Awaitable[None]]


class ApprovalGate:
    """The Toolbox ``Gate`` of one run: None lets a call run, a ToolResult is
    what the model gets instead of running it."""

    def __init__(
        self,
        policy: ApprovalPolicy,
        approver: Approver | None,
        invocation: Invocation,
        agent_id: str,
        log_event: LogEvent,
        waiting: Callable[[], AbstractContextManager[None]],
        progress: Callable[[str, bool | None], Awaitable[None]],
    ) -> None:
        """``waiting`` holds the run's clocks while a person decides;
        ``progress`` is told of the wait (``None``) and of its end (approved or not)."""
        self._policy = policy
        self._approver = approver
        self._inv = invocation
        self._agent_id = agent_id
        self._log_event = log_event
        self._waiting = waiting
        self._progress = progress

    async def __call__(self, call: ToolCall) -> ToolResult | None:
        if not self._policy.covers(call.name):
            return None
        request = ApprovalRequest(
            run_id=self._inv.run_id,
            agent_id=self._agent_id,
            caller_id=self._inv.caller_id,
            guild_id=self._inv.guild_id,
            channel_id=self._inv.channel_id,
            call_id=call.id,
            tool=call.name,
            arguments=call.arguments,
            by=self._policy.by,
            timeout=self._policy.timeout,
        )
        await self._log_event("approval_requested", {"tool": call.name, "arguments": _shown(call.arguments)})
        await self._progress(call.name, None)
        with self._waiting():
            decision = await self._ask(request)
        await self._progress(call.name, decision.approved)
        await self._log_event(
            "approval_decided",
            {"tool": call.name, "approved": decision.approved, "by": decision.by, "reason": decision.reason},
        )
        if decision.approved:
            return None
        return ToolResult(refusal(call.name, decision, self._policy.timeout), is_error=True)

    async def _ask(self, request: ApprovalRequest) -> ApprovalDecision:
        if self._approver is None:
            return ApprovalDecision(False, reason="nobody can approve calls where this run is")
        try:
            # The approver keeps its own timeout; this bound only stops one that does not.
            async with asyncio.timeout(request.timeout + APPROVAL_GRACE):
                return await self._approver.decide(request)
        except TimeoutError:
            return ApprovalDecision(False, reason="timeout")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the host failing to ask is a denial, never a call run unapproved
            log.exception("run %s: asking for approval of %s failed", request.run_id, request.tool)
            return ApprovalDecision(False, reason=f"the approval request failed ({type(exc).__name__})")


def refusal(tool: str, decision: ApprovalDecision, timeout: float) -> str:
    """The tool result the model reads for a call that was not approved."""
    if decision.reason == "timeout":
        why = f"nobody approved it within {timeout:g} s"
    elif decision.reason == "denied":
        why = f"it was denied{' by ' + decision.by if decision.by else ''}"
    else:
        why = decision.reason or "it was not approved"
    return f"error: {tool} was not run: it needs approval and {why}. Do not retry it unasked; tell the user."


def _shown(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments
