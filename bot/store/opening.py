"""Where the database file goes, and what to tell an operator whose
DATABASE_URL cannot be used.

Every failure on the way to an open database (the folder, the file, SQLite
itself, the PostgreSQL server, a schema from a newer version) becomes one
StoreOpenError line: ``DATABASE_URL <url>: <what is wrong>``, the URL
without its password (``redacted``), and the driver's words scrubbed of it.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from bot.store.errors import StoreOpenError
from bot.store.migrations import SchemaTooNewError
from bot.store.url import password, redacted


def prepare_location(url: str, path: Path) -> None:
    """Create the database's folder; refuse a path that is not a file SQLite
    can own (a folder, ``/dev/null``), before SQLite gives it a vaguer name."""
    try:
        mode: int | None = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # the folder check below says which
        mode = None
    except OSError as exc:
        raise StoreOpenError(f"DATABASE_URL {url}: cannot use {path}: {_reason(exc)}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise StoreOpenError(
            f"DATABASE_URL {url}: {path} is a folder; name a database file in it, such as {path / 'executus.db'}"
        )
    if mode is not None and not stat.S_ISREG(mode):
        raise StoreOpenError(f"DATABASE_URL {url}: {path} is not a regular file; name a database file instead")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is not a folder" if blocker is not None else _reason(exc)
        raise StoreOpenError(f"DATABASE_URL {url}: cannot create the folder {path.parent}: {reason}") from None


@contextmanager
def open_errors(url: str, path: Path) -> Iterator[None]:
    """Turn what goes wrong while opening the SQLite file ``path`` into one StoreOpenError line."""
    try:
        yield
    except SchemaTooNewError as exc:
        raise StoreOpenError(f"DATABASE_URL {url}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreOpenError(f"DATABASE_URL {url}: {_sqlite_reason(path, exc)}") from None
    except OSError as exc:
        raise StoreOpenError(f"DATABASE_URL {url}: cannot use {path}: {_reason(exc)}") from None


@contextmanager
def postgres_errors(url: str) -> Iterator[None]:
    """Turn what goes wrong while opening PostgreSQL at ``url`` into one
    StoreOpenError line, with no password in it."""
    shown = redacted(url)
    try:
        import psycopg
    except ImportError:
        raise StoreOpenError(
            f"DATABASE_URL {shown}: PostgreSQL needs the postgres extra: pip install 'executus[postgres]'"
        ) from None
    try:
        yield
    except SchemaTooNewError as exc:
        raise StoreOpenError(f"DATABASE_URL {shown}: {exc}") from None
    except (psycopg.Error, OSError) as exc:
        reason = " ".join(scrubbed(str(exc), url).split()) or type(exc).__name__
        raise StoreOpenError(f"DATABASE_URL {shown}: cannot use PostgreSQL: {reason}") from None


def scrubbed(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (as written, and decoded) masked."""
    secret = password(url)
    for form in {secret, unquote(secret)} - {""}:
        text = text.replace(form, "***")
    return text


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _sqlite_reason(path: Path, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "file is not a database" in text:
        return f"{path} is not a SQLite database (move it away, or point DATABASE_URL at another file)"
    if "unable to open" in text or "readonly" in text:
        return f"cannot open {path} for writing ({text}); check that its folder and the file are writable"
    return f"cannot open {path}: {text}"
