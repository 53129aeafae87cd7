"""Start-up recovery: what dead processes left behind.

Runs when the store opens, in any process. It takes over only the runs and
reservations whose owner is gone (see ``owners.py``): a run still live in
another process sharing the database stays ``running`` with its
reservation.

A durable run (one whose row holds a ResumeRequest, see records.py) that
is not a delegated sub-run is resumable. What recovery does with those is
the opening process's ``Takeover``:

- ``resume`` (a bot with RUNS_DURABLE): it becomes their owner, with their
  reservations, and resumes them once connected (``Recovery.resumed``);
- ``leave`` (the terminal console, which cannot answer in Discord): they
  stay as they are, for the next bot to start;
- ``interrupt`` (a bot without RUNS_DURABLE): they end like the rest.

With Discord shards (``bot/shards.py``), a run also belongs to its guild's
shard: a process takes over only the runs, and reservations, of the guilds
its shards own (``served``): resumes them, or interrupts them. The others
wait for a process that runs their shard, the restarted owner first of all,
which is also the one that hears from their threads.

The rest are marked ``interrupted``, their reservations released. One that
showed a progress message is left with ``notice_pending``, so a process
connected to Discord finishes that message and tells its thread
(``Runs.claim_notice``), whichever process recovered it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.shards import DM_SHARD, Shards
from bot.store.audit import RUN_RESUMED_EVENT
from bot.store.clock import to_db
from bot.store.database import Database, Tx, placeholders
from bot.store.dialect import Dialect
from bot.store.owners import Owners
from bot.store.statuses import StoredStatus

INTERRUPTED_ERROR = "the bot stopped before this run finished"
#: A run resumed this many times whose process died again each time is
#: interrupted instead: it may be what kills its process.
MAX_RESUMES = 3

Takeover = Literal["resume", "leave", "interrupt"]


@dataclass(frozen=True, slots=True)
class Recovery:
    interrupted_runs: int
    released_reservations: int
    #: The owners whose runs or reservations were taken over.
    owners: frozenset[str] = frozenset()
    #: Runs this process took over to resume, oldest first.
    resumed: tuple[str, ...] = ()
    #: The agent of each run marked interrupted (one entry a run), for the run counters.
    interrupted_agents: tuple[str, ...] = ()


def served(dialect: Dialect, shards: Shards, column: str) -> str:
    """A SQL condition: the guild id in ``column`` (text) is one of the
    guilds ``shards`` own, by Discord's rule ``(guild_id >> 22) % count``.
    Rows without a Discord guild (DMs, stored as '', and the console's) go
    with shard 0, as Discord sends DMs there. Always true for a process that
    runs every shard. The shard ids are integers (``Shards`` checks them),
    so they are written into the SQL rather than passed as parameters."""
    if shards.everything:
        return "1 = 1"
    assert shards.count is not None and shards.ids is not None
    shard = (
        f"CASE WHEN {dialect.is_number(column)} THEN (CAST({column} AS BIGINT) >> 22) % {int(shards.count)}"
        f" ELSE {DM_SHARD} END"
    )
    return f"({shard} IN ({', '.join(str(int(i)) for i in shards.ids)}))"


async def recover(
    db: Database, now: datetime, owners: Owners, takeover: Takeover = "interrupt", shards: Shards | None = None
) -> Recovery:
    """Take over the resumable runs of gone owners as ``takeover`` says (see
    above). Mark their other ``running`` runs ``interrupted``, with the steps,
    tool calls, tokens and runtime their rows show; move those owners'
    reservations to the ledger as ``interrupted`` with the tokens and runtime
    their run recorded (a crash does not make spend free). One transaction,
    while the gone owners are held so none can come back meanwhile; two
    processes recovering at once take turns. Only runs and reservations
    of guilds ``shards`` own (default: every guild) are taken over."""
    mine = shards or Shards()
    return await db.transact(lambda tx: _recover(tx, now, owners, takeover, mine), write=True, key="recovery")


async def _recover(tx: Tx, now: datetime, owners: Owners, takeover: Takeover, shards: Shards) -> Recovery:
    run_served = served(tx.dialect, shards, "runs.guild_id")
    reservation_served = served(tx.dialect, shards, "b.guild_id")
    rows = await tx.fetchall(
        f"SELECT owner_id FROM runs WHERE status = ? AND {run_served}"
        f" UNION SELECT owner_id FROM budget_reservations b WHERE {reservation_served}",
        (StoredStatus.RUNNING,),
    )
    async with owners.claim_gone(tx, {row[0] for row in rows}) as gone:
        if not gone:
            return Recovery(0, 0)
        ids = sorted(gone)
        kept = [] if takeover == "interrupt" else await _resumable(tx, ids, run_served)
        if takeover == "resume":
            await _own(tx, kept, owners.owner_id)
        spare, spared = _except(kept)

        def theirs(t: str) -> str:
            return f"{t}owner_id IN {placeholders(ids)}{spare.format(t=t)} AND {served(tx.dialect, shards, t + 'guild_id')}"

        agents, released = await interrupt(tx, theirs, (*ids, *spared), now)
    return Recovery(len(agents), released, gone, tuple(kept) if takeover == "resume" else (), agents)


#: A condition on a run (``runs``) or a reservation (``budget_reservations``),
#: given the prefix its columns are written with: ``runs.``, ``b.`` or none.
Where = Callable[[str], str]


async def interrupt(tx: Tx, condition: Where, params: Sequence[object], now: datetime) -> tuple[tuple[str, ...], int]:
    """Mark the ``running`` runs that meet ``condition`` ``interrupted``, with
    the steps, tool calls, tokens and runtime their rows show, and move the
    reservations that meet it to the ledger, charged with what their run
    recorded (tokens and money; the USD limits count a call cut off mid-way
    by what it held, see calls.py). Returns the agent of each run interrupted, and how many
    reservations were released. ``condition`` reads columns that both
    ``runs`` and ``budget_reservations`` have."""
    stamp = to_db(now)
    runtime = tx.dialect.seconds_between("MAX(s.created_at)", "runs.started_at")
    agents = await tx.fetchall(
        f"SELECT agent_id FROM runs WHERE status = ? AND {condition('')}", (StoredStatus.RUNNING, *params)
    )
    await tx.execute(
        f"""
        UPDATE runs SET
            status = ?,
            error = ?,
            finished_at = ?,
            notice_pending = CASE WHEN progress_message_id != '' THEN 1 ELSE 0 END,
            steps = (SELECT COUNT(*) FROM steps s WHERE s.run_id = runs.run_id),
            tool_calls = (SELECT COUNT(*) FROM tool_calls t WHERE t.run_id = runs.run_id),
            input_tokens = (SELECT COALESCE(SUM(input_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
            output_tokens = (SELECT COALESCE(SUM(output_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
            reasoning_tokens =
                (SELECT COALESCE(SUM(reasoning_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
            cached_tokens = (SELECT COALESCE(SUM(cached_tokens), 0) FROM steps s WHERE s.run_id = runs.run_id),
            cost_micros = (SELECT COALESCE(SUM(cost_micros), 0) FROM steps s WHERE s.run_id = runs.run_id),
            unpriced_calls = (SELECT COALESCE(SUM(unpriced_calls), 0) FROM steps s WHERE s.run_id = runs.run_id),
            runtime_seconds = COALESCE((SELECT {runtime} FROM steps s WHERE s.run_id = runs.run_id), 0.0)
        WHERE status = ? AND {condition("runs.")}
        """,
        (StoredStatus.INTERRUPTED, INTERRUPTED_ERROR, stamp, StoredStatus.RUNNING, *params),
    )
    await tx.execute(
        f"""
        INSERT INTO budget_ledger (run_id, guild_id, member_id, agent_id, parent_run_id, status,
            started_at, committed_at, runtime_seconds, input_tokens, output_tokens, reasoning_tokens,
            cached_tokens, cost_micros, unpriced_calls)
        SELECT b.run_id, b.guild_id, b.member_id, b.agent_id, b.parent_run_id, ?, b.started_at, ?,
            COALESCE(r.runtime_seconds, 0), COALESCE(r.input_tokens, 0), COALESCE(r.output_tokens, 0),
            COALESCE(r.reasoning_tokens, 0), COALESCE(r.cached_tokens, 0), COALESCE(r.cost_micros, 0),
            COALESCE(r.unpriced_calls, 0)
        FROM budget_reservations b LEFT JOIN runs r ON r.run_id = b.run_id
        WHERE {condition("b.")}
        ON CONFLICT (run_id) DO NOTHING
        """,
        (StoredStatus.INTERRUPTED, stamp, *params),
    )
    released = await tx.execute(f"DELETE FROM budget_reservations WHERE {condition('')}", params)
    return tuple(row[0] for row in agents), released


async def _resumable(tx: Tx, owner_ids: Sequence[str], run_served: str) -> list[str]:
    """The resumable runs of ``owner_ids`` in the guilds served here, oldest first."""
    rows = await tx.fetchall(
        f"SELECT run_id FROM runs WHERE status = ? AND owner_id IN {placeholders(owner_ids)} AND {run_served}"
        " AND resume != '' AND parent_run_id = ''"
        " AND (SELECT COUNT(*) FROM events e WHERE e.run_id = runs.run_id AND e.kind = ?) < ?"
        " ORDER BY started_at",
        (StoredStatus.RUNNING, *owner_ids, RUN_RESUMED_EVENT, MAX_RESUMES),
    )
    return [row[0] for row in rows]


async def _own(tx: Tx, run_ids: Sequence[str], owner_id: str) -> None:
    """``owner_id`` takes ``run_ids`` over, with their budget reservations."""
    if not run_ids:
        return
    among = placeholders(run_ids)
    await tx.execute(f"UPDATE runs SET owner_id = ? WHERE run_id IN {among}", (owner_id, *run_ids))
    await tx.execute(f"UPDATE budget_reservations SET owner_id = ? WHERE run_id IN {among}", (owner_id, *run_ids))


def _except(run_ids: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """A condition leaving ``run_ids`` out, and its parameters."""
    if not run_ids:
        return "", ()
    return f" AND {{t}}run_id NOT IN {placeholders(run_ids)}", tuple(run_ids)
