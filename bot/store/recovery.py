"""Start-up recovery: what a dead process left behind.

Runs once, when the store opens, before anything else writes. It assumes
this process is the database's only user: every run still ``running`` and
every reservation present belongs to a process that is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.store.audit import INTERRUPTED, RUNNING
from bot.store.clock import to_db
from bot.store.connection import transaction

INTERRUPTED_ERROR = "the bot stopped before this run finished"


@dataclass(frozen=True, slots=True)
class Recovery:
    interrupted_runs: int
    released_reservations: int


async def recover(conn: aiosqlite.Connection, now: datetime) -> Recovery:
    """Mark left-over ``running`` runs ``interrupted``, with the steps, tool
    calls, tokens and runtime their rows show; move left-over reservations to
    the ledger as ``interrupted`` with the tokens and runtime their run
    recorded (a crash does not make spend free). One transaction."""
    stamp = to_db(now)
    async with transaction(conn, "IMMEDIATE"):
        interrupted = await conn.execute(
            """
            UPDATE runs SET
                status = ?,
                error = ?,
                finished_at = ?,
                steps = (SELECT COUNT(*) FROM steps s WHERE s.run_id = runs.run_id),
                tool_calls = (SELECT COUNT(*) FROM tool_calls t WHERE t.run_id = runs.run_id),
                input_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
                output_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
                reasoning_tokens =
                    (SELECT COALESCE(SUM(reasoning_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
                cached_tokens = (SELECT COALESCE(SUM(cached_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
                runtime_seconds = COALESCE(
                    (SELECT (julianday(MAX(s.created_at)) - julianday(runs.started_at)) * 86400.0
                     FROM steps s WHERE s.run_id = runs.run_id),
                    0.0)
            WHERE status = ?
            """,
            (INTERRUPTED, INTERRUPTED_ERROR, stamp, RUNNING),
        )
        await conn.execute(
            """
            INSERT OR IGNORE INTO budget_ledger (run_id, guild_id, member_id, agent_id, parent_run_id, status,
                started_at, committed_at, runtime_seconds, input_tokens, output_tokens, reasoning_tokens,
                cached_tokens)
            SELECT b.run_id, b.guild_id, b.member_id, b.agent_id, b.parent_run_id, ?, b.started_at, ?,
                COALESCE(r.runtime_seconds, 0), COALESCE(r.input_tokens, 0), COALESCE(r.output_tokens, 0),
                COALESCE(r.reasoning_tokens, 0), COALESCE(r.cached_tokens, 0)
            FROM budget_reservations b LEFT JOIN runs r ON r.run_id = b.run_id
            """,
            (INTERRUPTED, stamp),
        )
        released = await conn.execute("DELETE FROM budget_reservations")
    return Recovery(interrupted.rowcount, released.rowcount)
