"""The schema, as numbered migrations applied in order at start-up.

A migration is never edited once released: a schema change is a new script
appended to ``MIGRATIONS``. Each script runs in its own write transaction
together with its ``schema_migrations`` row (``BEGIN IMMEDIATE`` on SQLite,
an advisory lock on PostgreSQL), so applying is idempotent and safe when two
processes start at once.

The scripts are written for SQLite and rendered for PostgreSQL by
``Dialect.render`` (its column types); ``POSTGRESQL_ONLY`` adds what SQLite
has built in or does another way, and ``SQLITE_ONLY`` what only SQLite
spells its own way (an FTS5 table where PostgreSQL has a tsvector column).
"""

from __future__ import annotations

import sqlite3

from bot.store.clock import to_db, utc_now
from bot.store.database import Database, Tx
from bot.store.dialect import Dialect

_PERIOD = "'day', 'week', 'month'"

#: Migration N is ``MIGRATIONS[N - 1]``.
MIGRATIONS: tuple[str, ...] = (
    # 1: the audit trail of runs. Foreign keys are checked at commit: the
    # writer groups a batch's statements by table (see writer.py).
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        agent_name TEXT NOT NULL DEFAULT '',
        caller_id TEXT NOT NULL,
        guild_id TEXT NOT NULL DEFAULT '',
        channel_id TEXT NOT NULL DEFAULT '',
        parent_run_id TEXT NOT NULL DEFAULT '',
        tier TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        input TEXT NOT NULL DEFAULT '',
        inputs TEXT NOT NULL DEFAULT '{}',
        output TEXT NOT NULL DEFAULT '',
        error TEXT NOT NULL DEFAULT '',
        max_iterations INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        runtime_seconds REAL NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        tool_calls INTEGER NOT NULL DEFAULT 0,
        steps INTEGER NOT NULL DEFAULT 0,
        ceiling_hit INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_guild ON runs (guild_id, started_at);
    CREATE INDEX runs_by_caller ON runs (guild_id, caller_id, started_at);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
    CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        step INTEGER NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        reasoning TEXT NOT NULL DEFAULT '',
        tool_calls TEXT NOT NULL DEFAULT '[]',
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE tool_calls (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        step INTEGER NOT NULL,
        call_id TEXT NOT NULL,
        name TEXT NOT NULL,
        arguments TEXT NOT NULL,
        result TEXT NOT NULL,
        is_error INTEGER NOT NULL DEFAULT 0,
        images INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX tool_calls_by_run ON tool_calls (run_id, step);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        kind TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    CREATE INDEX events_by_run ON events (run_id, id);
    CREATE INDEX events_by_kind ON events (kind, created_at);
    """,
    # 2: Discord thread conversations and the registry of agent threads.
    """
    CREATE TABLE agent_threads (
        thread_id TEXT PRIMARY KEY,
        guild_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        starter_id TEXT NOT NULL,
        open_to_all INTEGER NOT NULL DEFAULT 0 CHECK (open_to_all IN (0, 1)),
        created_at TEXT NOT NULL
    );
    CREATE TABLE conversation_messages (
        thread_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
        content TEXT NOT NULL DEFAULT '',
        reasoning TEXT NOT NULL DEFAULT '',
        reasoning_signature TEXT NOT NULL DEFAULT '',
        tool_calls TEXT NOT NULL DEFAULT '[]',
        call_id TEXT NOT NULL DEFAULT '',
        tool_name TEXT NOT NULL DEFAULT '',
        is_error INTEGER NOT NULL DEFAULT 0,
        images TEXT NOT NULL DEFAULT '[]',
        run_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        PRIMARY KEY (thread_id, seq)
    );
    """,
    # 3: budgets: limits, open reservations, and the ledger of real spend.
    f"""
    CREATE TABLE budget_limits (
        guild_id TEXT NOT NULL,
        member_id TEXT NOT NULL DEFAULT '',
        max_runs INTEGER CHECK (max_runs >= 0),
        runs_period TEXT CHECK (runs_period IN ({_PERIOD})),
        max_tokens INTEGER CHECK (max_tokens >= 0),
        tokens_period TEXT CHECK (tokens_period IN ({_PERIOD})),
        max_runtime_seconds REAL CHECK (max_runtime_seconds >= 0),
        runtime_period TEXT CHECK (runtime_period IN ({_PERIOD})),
        max_concurrent INTEGER CHECK (max_concurrent >= 0),
        updated_at TEXT NOT NULL,
        PRIMARY KEY (guild_id, member_id)
    );
    CREATE TABLE budget_reservations (
        run_id TEXT PRIMARY KEY,
        guild_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        parent_run_id TEXT NOT NULL DEFAULT '',
        started_at TEXT NOT NULL
    );
    CREATE INDEX budget_reservations_by_member ON budget_reservations (guild_id, member_id);
    CREATE TABLE budget_ledger (
        run_id TEXT PRIMARY KEY,
        guild_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        parent_run_id TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        committed_at TEXT NOT NULL,
        runtime_seconds REAL NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX budget_ledger_by_member ON budget_ledger (guild_id, member_id, started_at);
    CREATE INDEX budget_ledger_by_guild ON budget_ledger (guild_id, started_at);
    """,
    # 4: the newest message handled in each agent thread, so messages posted
    # while the bot was down are caught up at start-up.
    """
    ALTER TABLE agent_threads ADD COLUMN last_message_id INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE agent_threads ADD COLUMN active_at TEXT NOT NULL DEFAULT '';
    CREATE INDEX agent_threads_by_activity ON agent_threads (active_at);
    """,
    # 5: who owns each running run and reservation (start-up recovery takes
    # over only those whose owner process is gone), the run's progress
    # message (finished by the process that recovers the run, through
    # notice_pending), and claims on thread messages (so that one process,
    # of any number sharing a bot token, answers each).
    """
    ALTER TABLE runs ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN progress_message_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN notice_pending INTEGER NOT NULL DEFAULT 0 CHECK (notice_pending IN (0, 1));
    CREATE INDEX runs_notice_pending ON runs (run_id) WHERE notice_pending = 1;
    ALTER TABLE budget_reservations ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
    CREATE TABLE handled_messages (
        message_id INTEGER PRIMARY KEY,
        thread_id TEXT NOT NULL,
        handled_at TEXT NOT NULL
    );
    CREATE INDEX handled_messages_by_age ON handled_messages (handled_at);
    """,
    # 6: MCP tool pins: each server tool's accepted definition and, when the
    # server now describes it differently, the change awaiting an admin's review.
    """
    CREATE TABLE mcp_tool_pins (
        server_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        pinned TEXT NOT NULL,
        changed TEXT NOT NULL DEFAULT '',
        approved_by TEXT NOT NULL DEFAULT '',
        pinned_at TEXT NOT NULL,
        changed_at TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (server_id, tool)
    );
    """,
    # 7: what members asked agents to remember (memory.py), per scope (a
    # guild id, or the personal scope of DMs) and member. Full-text search
    # is added per database below.
    """
    CREATE TABLE memories (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        member_id TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX memories_by_member ON memories (scope, member_id, id);
    """,
    # 8: retention (retention.py) finds what is older than AUDIT_RETENTION_DAYS by these.
    """
    CREATE INDEX runs_by_start ON runs (started_at);
    CREATE INDEX budget_ledger_by_start ON budget_ledger (started_at);
    """,
    # 9: budgets in money. A limit in USD (micro-dollars); what each model
    # call held and cost (``budget_calls``: held before the call, settled
    # after; ``started_at`` is its run's, the period it counts in); the cost
    # of each step, run and ledger entry, with the calls of unknown price
    # beside it; role limits are rows of ``budget_limits`` keyed
    # ``role:<id>``; and one warning per member, limit and period.
    f"""
    ALTER TABLE budget_limits ADD COLUMN max_usd_micros INTEGER CHECK (max_usd_micros >= 0);
    ALTER TABLE budget_limits ADD COLUMN usd_period TEXT CHECK (usd_period IN ({_PERIOD}));
    CREATE TABLE budget_calls (
        hold_id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        guild_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        started_at TEXT NOT NULL,
        held_micros INTEGER NOT NULL DEFAULT 0,
        cost_micros INTEGER,
        settled INTEGER NOT NULL DEFAULT 0 CHECK (settled IN (0, 1)),
        created_at TEXT NOT NULL,
        settled_at TEXT
    );
    CREATE INDEX budget_calls_by_member ON budget_calls (guild_id, member_id, started_at);
    CREATE INDEX budget_calls_by_run ON budget_calls (run_id);
    ALTER TABLE budget_ledger ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE budget_ledger ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE steps ADD COLUMN cost_micros INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE steps ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE budget_warnings (
        guild_id TEXT NOT NULL,
        member_id TEXT NOT NULL,
        limit_key TEXT NOT NULL,
        period_start TEXT NOT NULL,
        warned_at TEXT NOT NULL,
        PRIMARY KEY (guild_id, member_id, limit_key, period_start)
    );
    """,
    # 10: retention (retention.py) finds the model call records no budget period counts any more by this.
    """
    CREATE INDEX budget_calls_by_start ON budget_calls (started_at);
    """,
    # 11: agents bound to channels (channel_agents.py): mentions and /ask
    # without an agent in the channel, its threads and forum posts run it.
    """
    CREATE TABLE channel_agents (
        channel_id TEXT PRIMARY KEY,
        guild_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        bound_by TEXT NOT NULL,
        bound_at TEXT NOT NULL
    );
    CREATE INDEX channel_agents_by_guild ON channel_agents (guild_id, channel_id);
    """,
    # 12: durable runs (records.py): a run's rows are its checkpoint. Steps
    # and tool calls keep the whole response or result to replay (the audit
    # columns are bounded), runs the request to resume them with; images are
    # stored once, by the SHA-256 of their bytes.
    """
    ALTER TABLE runs ADD COLUMN resume TEXT NOT NULL DEFAULT '';
    ALTER TABLE steps ADD COLUMN replay TEXT NOT NULL DEFAULT '';
    ALTER TABLE tool_calls ADD COLUMN replay TEXT NOT NULL DEFAULT '';
    CREATE TABLE blobs (
        digest TEXT PRIMARY KEY,
        media_type TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    """,
)


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer version of the bot."""


def statements(script: str) -> list[str]:
    """Split a script into complete statements (``sqlite3.complete_statement``
    knows about strings and trigger bodies, unlike a split on ``;``).

    ``executescript`` is not used because it commits on its own, which would
    break the one-transaction-per-migration contract.
    """
    done: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            done.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]!r}")
    return done


#: Appended to a migration on PostgreSQL. Released scripts stay as they are
#: on SQLite; nothing had been released on PostgreSQL before these.
POSTGRESQL_ONLY: dict[int, str] = {
    # SQLite orders runs by insertion with its built-in rowid; PostgreSQL has none.
    1: "ALTER TABLE runs ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;",
    # The owners' leases (leases.py); on SQLite, owners hold lock files.
    5: """
    CREATE TABLE owner_leases (
        owner_id TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    """,
    # Full-text search over memories: a generated tsvector ('simple': no
    # stemming, as FTS5's default tokenizer) with a GIN index.
    7: """
    ALTER TABLE memories ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;
    CREATE INDEX memories_search ON memories USING GIN (search);
    """,
}
#: Appended to a migration on SQLite, for what PostgreSQL does another way.
SQLITE_ONLY: dict[int, str] = {
    # Full-text search over memories: an external-content FTS5 table kept in
    # step with ``memories`` by triggers (rows are inserted and deleted, never updated).
    7: """
    CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories', content_rowid='id');
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts (rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    """,
}
#: The advisory lock that serialises migrations on PostgreSQL.
_LOCK = "schema_migrations"


def script(version: int, dialect: Dialect) -> str:
    """Migration ``version`` as ``dialect``'s database runs it."""
    only = POSTGRESQL_ONLY if dialect.name == "postgresql" else SQLITE_ONLY
    return dialect.render(MIGRATIONS[version - 1]) + only.get(version, "")


async def apply_migrations(db: Database) -> list[int]:
    """Apply the migrations ``db`` lacks; return their numbers (empty when
    the schema is current). Idempotent."""
    newest = await db.transact(_newest, write=True, key=_LOCK)
    if newest > len(MIGRATIONS):
        raise SchemaTooNewError(
            f"the database is at schema version {newest}, newer than this code knows ({len(MIGRATIONS)}); "
            "upgrade the bot instead of running an older one against it"
        )
    applied: list[int] = []
    for version in range(1, len(MIGRATIONS) + 1):
        if await db.transact(lambda tx: _apply(tx, version), write=True, key=_LOCK):  # awaited at once
            applied.append(version)
    return applied


async def _newest(tx: Tx) -> int:
    await tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    row = await tx.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
    return int(row[0]) if row is not None else 0


async def _apply(tx: Tx, version: int) -> bool:
    if await tx.fetchone("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)) is not None:
        return False
    for statement in statements(script(version, tx.dialect)):
        await tx.execute(statement)
    await tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, to_db(utc_now())))
    return True
