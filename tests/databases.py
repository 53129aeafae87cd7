"""The databases the store tests run on, through one fixture (``database``,
in conftest.py): a SQLite file in tmp_path, and a PostgreSQL database of
the test's own, created on the server at EXECUTUS_TEST_POSTGRES_URL
(default: the local server, user postgres) and dropped afterwards.

When that server does not answer, the PostgreSQL half is skipped with the
reason, and the session says so at its end; with
EXECUTUS_TEST_POSTGRES_REQUIRED=1 (CI) it fails instead.
"""

from __future__ import annotations

import functools
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

ADMIN_URL = os.environ.get("EXECUTUS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRED = os.environ.get("EXECUTUS_TEST_POSTGRES_REQUIRED") == "1"
#: The lease of the child processes the tests kill, so that their runs are
#: taken over soon after; long enough that a loaded machine still renews it.
CHILD_LEASE_SECONDS = 5.0
#: A guard against a lease that never expires, not a timing assertion.
EXPIRY_TIMEOUT = 60.0


class DatabaseUnderTest(Protocol):
    backend: str
    url: str

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run ``sql`` (``?`` placeholders) on a connection of the test's own."""
        ...

    def tables(self) -> set[str]: ...

    def wait_until_gone(self, owner_id: str) -> None:
        """Return once the process ``owner_id``, killed, counts as gone."""
        ...


def one(db: DatabaseUnderTest, sql: str, *params: Any) -> tuple[Any, ...]:
    """The single row ``sql`` finds."""
    found = db.rows(sql, *params)
    assert len(found) == 1, found
    return found[0]


class SQLiteUnderTest:
    backend = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    def tables(self) -> set[str]:
        return {r[0] for r in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def wait_until_gone(self, owner_id: str) -> None:
        """A dead process's lock is free at once."""


class PostgresUnderTest:
    backend = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(sql.replace("?", "%s"), params)
            return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    def tables(self) -> set[str]:
        return {r[0] for r in self.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}

    def wait_until_gone(self, owner_id: str) -> None:
        """Wait for the killed process's lease to expire."""
        self.wait_until("SELECT NOT EXISTS (SELECT 1 FROM owner_leases WHERE owner_id = ? AND expires_at >= now())", owner_id)

    def wait_until(self, sql: str, *params: Any) -> None:
        """Poll until ``sql`` gives true (the server's clock moves on its own)."""
        deadline = time.monotonic() + EXPIRY_TIMEOUT
        while not self.rows(sql, *params)[0][0]:
            assert time.monotonic() < deadline, f"still false after {EXPIRY_TIMEOUT} s: {sql}"
            time.sleep(0.1)


@functools.cache
def postgres_unavailable() -> str:
    """Why the PostgreSQL half cannot run here; empty when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL server answers at {redacted_admin_url()} ({first})"
    return ""


@contextmanager
def postgres_database(admin_url: str = ADMIN_URL, prefix: str = "executus_test") -> Iterator[PostgresUnderTest]:
    """A fresh database on the server at ``admin_url``, dropped afterwards
    whatever happens (bench/store.py uses one too). psycopg.Error when the
    server cannot be used."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PostgresUnderTest(urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}")))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redacted_admin_url() -> str:
    from bot.store.url import redacted

    return redacted(ADMIN_URL)
