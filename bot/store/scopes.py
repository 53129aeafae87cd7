"""Where a member's budget, spend and memories are kept: a guild (its id), or
the member's own DMs and user-installed commands.

``PERSONAL_SCOPE`` is not a number, so no guild id can name it: a guild's
admin commands, which always act on their own guild's id, never reach it.
Its limits are the operator's (settings), not a table row an admin set.
"""

from __future__ import annotations

from bot.store.limits import Limits

PERSONAL_SCOPE = "dm"


def fixed_limits(scope: str, personal: Limits) -> Limits | None:
    """The limits of a scope that no admin sets: ``personal`` for the
    personal scope; None for a guild, whose limits are table rows."""
    return personal if scope == PERSONAL_SCOPE else None
