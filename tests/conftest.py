"""Session-wide test plumbing: the ``database`` fixture every store test
runs on (SQLite and PostgreSQL, see databases.py), ``opened_store`` (the
Store open on it), and a closing line that says whether the PostgreSQL half ran."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.store import Store
from tests.databases import (
    REQUIRED,
    DatabaseUnderTest,
    SQLiteUnderTest,
    postgres_database,
    postgres_unavailable,
    redacted_admin_url,
)

#: Marks a test's report with whether its PostgreSQL half ran. Reports carry
#: it from pytest-xdist's workers to the process that prints the summary.
_POSTGRES = "postgresql"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseUnderTest]:
    """An empty database for the test: a SQLite file in tmp_path, or a
    PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield SQLiteUnderTest(tmp_path / "executus.db")
    else:
        yield from postgresql(request.node)


@pytest.fixture
async def opened_store(database: DatabaseUnderTest) -> AsyncIterator[Store]:
    """The Store, migrated and open on ``database``."""
    async with Store(database.url) as store:
        yield store


@pytest.fixture
def postgresql_database(request: pytest.FixtureRequest) -> Iterator[DatabaseUnderTest]:
    """For what only PostgreSQL has (leases, advisory locks)."""
    yield from postgresql(request.node)


def postgresql(node: pytest.Item) -> Iterator[DatabaseUnderTest]:
    reason = postgres_unavailable()
    node.user_properties.append((_POSTGRES, "skipped" if reason else "ran"))
    if reason:
        if REQUIRED:
            pytest.fail(f"EXECUTUS_TEST_POSTGRES_REQUIRED=1 but {reason}")
        pytest.skip(f"PostgreSQL half skipped: {reason}")
    with postgres_database() as db:
        yield db


def pytest_terminal_summary(terminalreporter: Any) -> None:
    outcomes = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "setup"
        for name, value in getattr(report, "user_properties", ())
        if name == _POSTGRES
    ]
    ran, skipped = outcomes.count("ran"), outcomes.count("skipped")
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL: SKIPPED {skipped} store tests: {postgres_unavailable()}. "
            "Start the server (or set EXECUTUS_TEST_POSTGRES_URL) to run them.",
            yellow=True,
            bold=True,
        )
    elif ran:
        terminalreporter.write_line(f"PostgreSQL: {ran} store tests ran on the server at {redacted_admin_url()}.")
