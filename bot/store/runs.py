"""Reading the audit trail back, for admin commands; the notices owed for
runs that recovery found cut off; the runs this process took over to resume."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store.clock import Clock, from_db
from bot.store.database import Database, Row, Tx
from bot.store.records import ResumableRun, drafts_of, load_resumable
from bot.store.recovery import interrupt
from bot.store.statuses import StoredStatus
from executor.llm import Usage


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    agent_id: str
    caller_id: str
    guild_id: str
    channel_id: str
    parent_run_id: str
    tier: str
    model: str
    status: StoredStatus
    input: str
    output: str
    error: str
    started_at: datetime
    finished_at: datetime | None
    runtime_seconds: float
    usage: Usage
    tool_calls: int
    steps: int
    ceiling_hit: bool


@dataclass(frozen=True, slots=True)
class StepRecord:
    step: int
    content: str
    reasoning: str
    tool_calls: list[dict[str, str]]
    usage: Usage
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    step: int
    call_id: str
    name: str
    arguments: str
    result: str
    is_error: bool
    images: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    kind: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunDetail:
    run: RunSummary
    steps: list[StepRecord]
    tool_calls: list[ToolCallRecord]
    events: list[EventRecord]


@dataclass(frozen=True, slots=True)
class InterruptedRun:
    """A run cut off by its process's end whose progress message still shows
    it working. ``thread_id`` is where it answered (its channel)."""

    run_id: str
    agent_name: str
    guild_id: str
    thread_id: str
    progress_message_id: str
    #: The drafts of its streamed answer, to withdraw.
    drafts: tuple[str, ...] = ()


_SUMMARY = (
    "run_id, agent_id, caller_id, guild_id, channel_id, parent_run_id, tier, model, status, input, output, error,"
    " started_at, finished_at, runtime_seconds, input_tokens, output_tokens, reasoning_tokens, cached_tokens,"
    " cost_micros, unpriced_calls, tool_calls, steps, ceiling_hit"
)


class Runs:
    def __init__(self, reader: Database, serial: Database, clock: Clock) -> None:
        self._reader = reader
        self._serial = serial
        self._clock = clock

    async def resumable(self, run_ids: Sequence[str]) -> list[ResumableRun]:
        """Runs to resume (``Store.recovery.resumed``), with their requests and
        records, oldest first."""
        return await self._reader.transact(lambda tx: load_resumable(tx, run_ids))

    async def interrupt(self, run_id: str) -> bool:
        """End a ``running`` run of this process that cannot be resumed (its
        agent or thread is gone) as recovery ends a dead process's: marked
        ``interrupted``, its reservation charged with what it recorded, its
        thread owed a notice. False when it was not running."""
        now = self._clock()
        agents, _ = await self._serial.transact(
            lambda tx: interrupt(tx, lambda t: f"{t}run_id = ?", (run_id,), now), write=True
        )
        return len(agents) == 1

    async def notices_pending(self) -> list[InterruptedRun]:
        """Interrupted runs whose thread has not been told yet (see recovery.py)."""
        rows, drafts = await self._reader.transact(_notices_pending)
        return [
            InterruptedRun(r["run_id"], r["agent_name"] or r["agent_id"], r["guild_id"], r["channel_id"],
                           r["progress_message_id"], drafts.get(r["run_id"], ()))
            for r in rows
        ]

    async def claim_notice(self, run_id: str) -> bool:
        """True for the one caller, of any process, that is to tell the run's
        thread; False when another has taken it (or it is not pending)."""
        return await self._serial.transact(lambda tx: _claim_notice(tx, run_id), write=True)

    async def recent(self, guild_id: str, member_id: str | None = None, limit: int = 20) -> list[RunSummary]:
        """A guild's runs, or one member's there, newest first."""
        where, params = ("guild_id = ?", (guild_id,)) if member_id is None else (
            "guild_id = ? AND caller_id = ?",
            (guild_id, member_id),
        )
        sql = f"SELECT {_SUMMARY} FROM runs WHERE {where} ORDER BY started_at DESC, rowid DESC LIMIT ?"
        rows = await self._reader.transact(lambda tx: tx.fetchall(sql, (*params, limit)))
        return [_summary(r) for r in rows]

    async def detail(self, run_id: str, guild_id: str | None = None) -> RunDetail | None:
        """A run with its steps, tool calls and events; None if there is no
        such run (in ``guild_id``, when given: an admin sees their guild only)."""
        return await self._reader.transact(lambda tx: _detail(tx, run_id, guild_id))


async def _notices_pending(tx: Tx) -> tuple[list[Row], dict[str, tuple[str, ...]]]:
    rows = await tx.fetchall(
        "SELECT run_id, agent_name, agent_id, guild_id, channel_id, progress_message_id FROM runs"
        " WHERE notice_pending = 1 ORDER BY started_at"
    )
    return rows, await drafts_of(tx, [r["run_id"] for r in rows])


async def _detail(tx: Tx, run_id: str, guild_id: str | None) -> RunDetail | None:
    row = await tx.fetchone(f"SELECT {_SUMMARY} FROM runs WHERE run_id = ?", (run_id,))
    if row is None or (guild_id is not None and row["guild_id"] != guild_id):
        return None
    steps = await tx.fetchall(
        "SELECT step, content, reasoning, tool_calls, input_tokens, output_tokens, reasoning_tokens,"
        " cached_tokens, cost_micros, unpriced_calls, created_at FROM steps WHERE run_id = ? ORDER BY step",
        (run_id,),
    )
    calls = await tx.fetchall(
        "SELECT step, call_id, name, arguments, result, is_error, images, created_at"
        " FROM tool_calls WHERE run_id = ? ORDER BY id",
        (run_id,),
    )
    events = await tx.fetchall("SELECT kind, data, created_at FROM events WHERE run_id = ? ORDER BY id", (run_id,))
    return RunDetail(
        _summary(row),
        [
            StepRecord(
                s["step"], s["content"], s["reasoning"], json.loads(s["tool_calls"]), _usage(s), from_db(s["created_at"])
            )
            for s in steps
        ],
        [
            ToolCallRecord(
                c["step"],
                c["call_id"],
                c["name"],
                c["arguments"],
                c["result"],
                bool(c["is_error"]),
                c["images"],
                from_db(c["created_at"]),
            )
            for c in calls
        ],
        [EventRecord(e["kind"], json.loads(e["data"]), from_db(e["created_at"])) for e in events],
    )


def _usage(row: Any) -> Usage:
    return Usage(
        row["input_tokens"],
        row["output_tokens"],
        row["reasoning_tokens"],
        row["cached_tokens"],
        cost_micros=row["cost_micros"],
        unpriced_calls=row["unpriced_calls"],
    )


def _summary(r: Any) -> RunSummary:
    return RunSummary(
        run_id=r["run_id"],
        agent_id=r["agent_id"],
        caller_id=r["caller_id"],
        guild_id=r["guild_id"],
        channel_id=r["channel_id"],
        parent_run_id=r["parent_run_id"],
        tier=r["tier"],
        model=r["model"],
        status=StoredStatus(r["status"]),
        input=r["input"],
        output=r["output"],
        error=r["error"],
        started_at=from_db(r["started_at"]),
        finished_at=from_db(r["finished_at"]) if r["finished_at"] is not None else None,
        runtime_seconds=r["runtime_seconds"],
        usage=_usage(r),
        tool_calls=r["tool_calls"],
        steps=r["steps"],
        ceiling_hit=bool(r["ceiling_hit"]),
    )


async def _claim_notice(tx: Tx, run_id: str) -> bool:
    changed = await tx.execute("UPDATE runs SET notice_pending = 0 WHERE run_id = ? AND notice_pending = 1", (run_id,))
    return changed == 1
