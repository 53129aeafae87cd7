"""What members are told about their budget around a run: the cheaper tier
an agent falls back to near a limit, and a warning once a period when they
pass BUDGET_WARN_PERCENT of a limit.

Both read the member's standing from the store, with their roles, so they
see the limits the budget gate applies. The warning is claimed in the store
(one row per member, limit and period), so a member is warned once a period
however many runs, threads or processes cross the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.messages.budget import cheaper_tier_text, warning_text
from bot.store import LimitUse

#: A run of an agent with ``cheaper_tier`` uses that tier from this share of any limit on.
CHEAPER_TIER_PERCENT = 90.0


class Standing(Protocol):
    """The store budget's view of a member's limits (``StoreBudget``)."""

    async def standing(self, guild_id: str, member_id: str, roles: Sequence[str] = ()) -> list[LimitUse]: ...

    async def claim_warnings(
        self, guild_id: str, member_id: str, roles: Sequence[str], percent: float
    ) -> list[LimitUse]: ...


@dataclass(frozen=True, slots=True)
class BudgetNotices:
    budget: Standing
    warn_percent: float

    async def cheaper_tier(self, guild_id: str, member_id: str, roles: Sequence[str], tier: str) -> str | None:
        """The notice that a run uses ``tier`` because the member is at
        CHEAPER_TIER_PERCENT of a limit or more; None when they are not."""
        uses = await self.budget.standing(guild_id, member_id, roles)
        fullest = max(uses, key=lambda u: u.percent, default=None)
        if fullest is None or fullest.percent < CHEAPER_TIER_PERCENT:
            return None
        return cheaper_tier_text(fullest, tier)

    async def warnings(self, guild_id: str, member_id: str, roles: Sequence[str]) -> list[str]:
        """The warnings due now, each limit's once per period (claimed as it is returned)."""
        claimed = await self.budget.claim_warnings(guild_id, member_id, roles, self.warn_percent)
        return [warning_text(member_id, use) for use in claimed]
