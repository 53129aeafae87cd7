"""Opening the database: URLs, pragmas, numbered migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.store import DatabaseURLError, SchemaTooNewError, Store, StoreOpenError, database_path, migrate
from bot.store import migrations as migrations_module
from bot.store.migrations import MIGRATIONS, statements
from tests.store_helpers import url

ALL = list(range(1, len(MIGRATIONS) + 1))
TABLES = {
    "schema_migrations",
    "runs",
    "steps",
    "tool_calls",
    "events",
    "agent_threads",
    "conversation_messages",
    "budget_limits",
    "budget_reservations",
    "budget_ledger",
    "handled_messages",
}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_migrate_from_empty_applies_all_in_order_and_creates_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "bot.db"
    assert await migrate(f"sqlite:///{path}") == ALL
    assert TABLES <= tables(path)
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == ALL


async def test_reapplying_is_a_no_op(tmp_path: Path) -> None:
    assert await migrate(url(tmp_path)) == ALL
    assert await migrate(url(tmp_path)) == []
    async with Store(url(tmp_path)) as store:
        assert store.applied_migrations == []
    with sqlite3.connect(tmp_path / "executus.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(ALL)


async def test_only_the_missing_migrations_are_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations_module, "MIGRATIONS", MIGRATIONS[:1])
    assert await migrate(url(tmp_path)) == [1]
    assert "budget_ledger" not in tables(tmp_path / "executus.db")
    monkeypatch.setattr(migrations_module, "MIGRATIONS", MIGRATIONS)
    assert await migrate(url(tmp_path)) == ALL[1:]
    assert TABLES <= tables(tmp_path / "executus.db")


async def test_store_open_migrates_and_sets_wal(tmp_path: Path) -> None:
    store = await Store.open(url(tmp_path))
    try:
        assert store.applied_migrations == ALL
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "executus.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    await migrate(url(tmp_path))
    with sqlite3.connect(tmp_path / "executus.db") as conn:
        conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 'later')")
    with pytest.raises(StoreOpenError, match=r"^DATABASE_URL sqlite:///.*: the database is at schema version 99"):
        await migrate(url(tmp_path))
    with pytest.raises(StoreOpenError, match="schema version 99") as raised:
        await Store.open(url(tmp_path))
    assert isinstance(raised.value.__context__, SchemaTooNewError)


async def test_a_failing_migration_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = (*MIGRATIONS, "CREATE TABLE extra (x INTEGER);\nCREATE TABLE runs (x INTEGER);")
    monkeypatch.setattr(migrations_module, "MIGRATIONS", broken)
    with pytest.raises(StoreOpenError, match="table runs already exists"):
        await migrate(url(tmp_path))
    assert "extra" not in tables(tmp_path / "executus.db")
    with sqlite3.connect(tmp_path / "executus.db") as conn:
        assert conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_statements_split_on_complete_statements_only() -> None:
    script = "CREATE TABLE a (x TEXT DEFAULT 'semi;colon');\nCREATE TABLE b (y INTEGER);\n"
    assert statements(script) == ["CREATE TABLE a (x TEXT DEFAULT 'semi;colon');", "CREATE TABLE b (y INTEGER);"]
    with pytest.raises(ValueError, match="incomplete"):
        statements("CREATE TABLE c (z INTEGER")


def test_database_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_path("sqlite:///data/executus.db") == tmp_path / "data" / "executus.db"
    assert database_path("sqlite:////srv/bot/executus.db") == Path("/srv/bot/executus.db")
    for bad in ("postgres://u@h/db", "sqlite://data.db", "data.db", "sqlite:///", "sqlite:///:memory:", "sqlite:///x.db?mode=ro"):
        with pytest.raises(DatabaseURLError):
            database_path(bad)
    with pytest.raises(DatabaseURLError, match="'postgres'"):
        Store("postgres://u@h/db")


async def test_the_default_url_is_relative_to_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with Store() as store:
        assert store.path == tmp_path / "data" / "executus.db"
    assert (tmp_path / "data" / "executus.db").exists()


async def test_parts_are_unavailable_when_closed(tmp_path: Path) -> None:
    store = Store(url(tmp_path))
    with pytest.raises(RuntimeError, match="not open"):
        store.audit
    async with store:
        assert store.audit is not None
    with pytest.raises(RuntimeError, match="not open"):
        store.budget
    await store.close()  # idempotent
