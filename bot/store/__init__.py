"""executus's store, on SQLite or PostgreSQL: audit trail, budgets, thread conversations.

``Store`` opens the database and hands out the parts: ``store.audit`` (the
executor's Audit port, rejected runs included), ``store.budget`` (its Budget
port and the limits admin API), ``store.calls`` (its CallBudget port:
money held per model call), ``store.conversations``, ``store.threads``,
``store.runs``, ``store.mcp_pins`` (the PinStore of MCP tools),
``store.memory`` (members' memories), ``store.retention`` (pruning what is
older than AUDIT_RETENTION_DAYS) and ``store.channel_agents`` (agents bound
to channels). ``migrate`` is ``python -m bot migrate``.

The store returns data, never sentences: a budget refusal is a ``Refusal``,
a bad limit an ``InvalidLimit``; ``bot/messages/`` words them. ``Limit`` is
the one vocabulary of limits, ``StoredStatus`` of run statuses.
"""

from __future__ import annotations

from bot.store.audit import StoreAudit, StoreRecorder
from bot.store.budget import BudgetRefused, LimitUse, Refusal, StoreBudget, role_key
from bot.store.calls import CallRefused, StoreCallBudget
from bot.store.channel_agents import ChannelAgent, ChannelAgents
from bot.store.conversations import Conversations
from bot.store.ledger import MemberUsage, PeriodUsage, Spender, Spent
from bot.store.limits import MAX_LIMIT, InvalidLimit, Limit, LimitChange, LimitProblem, Limits, Setting
from bot.store.errors import StoreOpenError
from bot.store.memory import MAX_MEMORIES, MAX_MEMORY_CHARS, Memory, MemoryFull, StoreMemory
from bot.store.migrations import SchemaTooNewError
from bot.store.owners import check_executor_id, new_executor_id
from bot.store.periods import Period
from bot.store.records import ResumableRun, ResumeRequest
from bot.store.recovery import Recovery, Takeover
from bot.store.retention import Pruned, Retention
from bot.store.runs import (
    EventRecord,
    InterruptedRun,
    RunDetail,
    Runs,
    RunSummary,
    StepRecord,
    ToolCallRecord,
)
from bot.store.statuses import StoredStatus
from bot.store.store import Store, migrate
from bot.store.threads import AgentThread, AgentThreads
from bot.store.url import DEFAULT_DATABASE_URL, DatabaseURLError, database_path
from bot.store.writer import StoreClosedError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MAX_LIMIT",
    "MAX_MEMORIES",
    "MAX_MEMORY_CHARS",
    "AgentThread",
    "AgentThreads",
    "BudgetRefused",
    "CallRefused",
    "ChannelAgent",
    "ChannelAgents",
    "Conversations",
    "DatabaseURLError",
    "EventRecord",
    "InterruptedRun",
    "InvalidLimit",
    "Limit",
    "LimitChange",
    "LimitProblem",
    "LimitUse",
    "Limits",
    "MemberUsage",
    "Memory",
    "MemoryFull",
    "Period",
    "PeriodUsage",
    "Recovery",
    "Pruned",
    "Refusal",
    "ResumableRun",
    "ResumeRequest",
    "Retention",
    "RunDetail",
    "RunSummary",
    "Runs",
    "SchemaTooNewError",
    "Setting",
    "Spender",
    "Spent",
    "StepRecord",
    "Store",
    "StoreAudit",
    "StoreBudget",
    "StoreCallBudget",
    "StoreClosedError",
    "StoreMemory",
    "StoreOpenError",
    "StoreRecorder",
    "StoredStatus",
    "Takeover",
    "ToolCallRecord",
    "check_executor_id",
    "database_path",
    "migrate",
    "new_executor_id",
    "role_key",
]
