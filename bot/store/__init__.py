"""executus's SQLite store: audit trail, budgets, thread conversations.

``Store`` opens the database and hands out the parts: ``store.audit`` (the
executor's Audit port), ``store.budget`` (its Budget port and the limits
admin API), ``store.conversations``, ``store.threads`` and ``store.runs``.
``migrate`` is ``python -m bot migrate``.
"""

from __future__ import annotations

from bot.store.audit import StoreAudit, StoreRecorder
from bot.store.budget import StoreBudget
from bot.store.conversations import Conversations
from bot.store.ledger import MemberUsage, PeriodUsage, Spender, Spent
from bot.store.limits import Limits
from bot.store.migrations import SchemaTooNewError, migrate
from bot.store.periods import Period
from bot.store.recovery import Recovery
from bot.store.runs import (
    EventRecord,
    RunDetail,
    Runs,
    RunSummary,
    StepRecord,
    ToolCallRecord,
)
from bot.store.store import Store
from bot.store.threads import AgentThread, AgentThreads
from bot.store.url import DEFAULT_DATABASE_URL, DatabaseURLError, database_path
from bot.store.writer import StoreClosedError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "AgentThread",
    "AgentThreads",
    "Conversations",
    "DatabaseURLError",
    "EventRecord",
    "Limits",
    "MemberUsage",
    "Period",
    "PeriodUsage",
    "Recovery",
    "RunDetail",
    "RunSummary",
    "Runs",
    "SchemaTooNewError",
    "Spender",
    "Spent",
    "StepRecord",
    "Store",
    "StoreAudit",
    "StoreBudget",
    "StoreClosedError",
    "StoreRecorder",
    "ToolCallRecord",
    "database_path",
    "migrate",
]
