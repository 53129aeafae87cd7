"""Approval gates, the host's side: who may decide, and waiting for them.

``Approvals`` is the executor's Approver. For each gated call it asks its
``Prompt`` to show the request where the run answers (the Discord host posts
Approve and Deny buttons in the thread), then waits for a decision or the
timeout. A click is checked here, not in the client: only members holding
one of the roles the agent names (``by = ["role:Moderators"]``), or with
Manage Server, may decide; anyone else is refused and the call keeps waiting.
Nothing here imports discord.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.store.scopes import PERSONAL_SCOPE
from executor import ApprovalDecision, ApprovalRequest

log = logging.getLogger(__name__)

#: How an agent file names a role that may decide: ``role:NAME`` or ``role:ID``.
ROLE_PREFIX = "role:"


@dataclass(slots=True)
class Pending:
    """A call waiting for a decision. ``shown_at`` is where the prompt showed
    it (the Discord message id), set by the Prompt."""

    id: str
    request: ApprovalRequest
    decided: asyncio.Future[ApprovalDecision] = field(repr=False)
    shown_at: int | None = None


class Prompt(Protocol):
    """Shows requests to the people who may decide, and their outcome."""

    async def ask(self, pending: Pending) -> None:
        """Show ``pending`` where its run answers. Raises when it cannot
        (the call is then denied: nobody could be asked)."""

    async def settled(self, pending: Pending, decision: ApprovalDecision) -> None:
        """Show how ``pending`` ended (the buttons go away)."""


class Verdict(StrEnum):
    """What became of a member's click."""

    RECORDED = "recorded"
    NOT_ALLOWED = "not_allowed"
    GONE = "gone"  # already decided, timed out, or from before a restart


def approval_id(request: ApprovalRequest) -> str:
    """The same for the same call of the same run: a run resumed after a
    restart asks again under the id its buttons already carry."""
    return hashlib.sha256(f"{request.run_id}:{request.call_id}".encode()).hexdigest()[:16]


def role_named(entry: str) -> str | None:
    """The role an agent file's ``role:NAME`` (or ``role:ID``) entry names;
    None when the entry is not one, or names nothing."""
    if not entry.startswith(ROLE_PREFIX):
        return None
    return entry[len(ROLE_PREFIX) :].strip() or None


def may_decide(by: Iterable[str], member_roles: Iterable[str], is_admin: bool) -> bool:
    """Manage Server, or one of the ``role:`` entries by role name (any case) or id."""
    if is_admin:
        return True
    held = {r.casefold() for r in member_roles}
    return any((role := role_named(e)) is not None and role.casefold() in held for e in by)


class Approvals:
    """The Approver port. Without a Prompt (the terminal console), gated
    calls are denied: nobody is there to ask."""

    def __init__(self) -> None:
        self._prompt: Prompt | None = None
        self._pending: dict[str, Pending] = {}

    def attach(self, prompt: Prompt) -> None:
        self._prompt = prompt

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        prompt = self._prompt
        if prompt is None:
            return ApprovalDecision(False, reason="nobody can approve calls here (approvals are given in Discord)")
        if request.guild_id == PERSONAL_SCOPE:  # no roles and no Manage Server in direct messages
            return ApprovalDecision(False, reason="nobody can approve calls in direct messages; ask in a server")
        pending = Pending(approval_id(request), request, asyncio.get_running_loop().create_future())
        self._pending[pending.id] = pending
        try:
            await prompt.ask(pending)
            async with asyncio.timeout(request.timeout):
                decision = await asyncio.shield(pending.decided)
        except TimeoutError:
            decision = ApprovalDecision(False, reason="timeout")
        except asyncio.CancelledError:
            self._pending.pop(pending.id, None)
            await self._settle(prompt, pending, ApprovalDecision(False, reason="the run ended"))
            raise
        except Exception as exc:
            log.warning("run %s: could not ask for approval of %s: %s", request.run_id, request.tool, exc)
            decision = ApprovalDecision(False, reason="the request could not be shown to anyone who may approve it")
        self._pending.pop(pending.id, None)
        await self._settle(prompt, pending, decision)
        return decision

    def resolve(self, approval_id: str, approve: bool, member_id: str, member_roles: Iterable[str], is_admin: bool) -> Verdict:
        """A member's click on Approve or Deny, checked here."""
        pending = self._pending.get(approval_id)
        if pending is None or pending.decided.done():
            return Verdict.GONE
        if not may_decide(pending.request.by, member_roles, is_admin):
            return Verdict.NOT_ALLOWED
        pending.decided.set_result(ApprovalDecision(approve, by=member_id, reason="approved" if approve else "denied"))
        return Verdict.RECORDED

    def request(self, approval_id: str) -> ApprovalRequest | None:
        pending = self._pending.get(approval_id)
        return pending.request if pending is not None else None

    @staticmethod
    async def _settle(prompt: Prompt, pending: Pending, decision: ApprovalDecision) -> None:
        try:
            await asyncio.shield(prompt.settled(pending, decision))
        except Exception as exc:  # the decision stands; only its display failed
            log.warning("run %s: could not show the approval's outcome: %s", pending.request.run_id, exc)
