"""DATABASE_URL: which database, where, and how to name it in a message.

SQLite (the default): ``sqlite:///data/executus.db`` is relative to the
working folder, ``sqlite:////abs/path.db`` is absolute. PostgreSQL:
``postgresql://user:password@host:port/dbname`` (or ``postgres://``), with
any libpq option in the query (``?sslmode=require``).

A URL in a message or a log line goes through ``redacted`` first: it never
shows a password.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from bot.store.dialect import Backend
from bot.store.errors import StoreOpenError

DEFAULT_DATABASE_URL = "sqlite:///data/executus.db"

_PREFIX = "sqlite:///"
_POSTGRESQL_SCHEMES = ("postgresql", "postgres")
_HIDDEN = "***"
#: ``scheme://user:password@``: the user part ends at the last '@' before the path.
_USER_PASSWORD = re.compile(r"^([A-Za-z][\w+.-]*://[^/?#@:]*):[^/?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


class DatabaseURLError(StoreOpenError, ValueError):
    """DATABASE_URL is not a URL this store can open."""


def backend(url: str) -> Backend:
    """Which database ``url`` names; DatabaseURLError for any other kind of URL."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in _POSTGRESQL_SCHEMES:
        return "postgresql"
    if scheme == "sqlite":
        return "sqlite"
    raise DatabaseURLError(
        f"DATABASE_URL must be a SQLite URL such as {DEFAULT_DATABASE_URL} (relative to the working folder) "
        f"or sqlite:////abs/path.db (absolute), or a PostgreSQL URL such as postgresql://user@host/dbname; "
        f"got {scheme or redacted(url)!r}"
    )


def database_path(url: str) -> Path:
    """The absolute path of the SQLite file ``url`` names.

    Pure: it does not touch the file system (the store creates the parent
    folder when it opens).
    """
    if not url.startswith(_PREFIX):
        scheme = url.split("://", 1)[0] if "://" in url else url
        raise DatabaseURLError(
            f"DATABASE_URL must be a SQLite URL such as {DEFAULT_DATABASE_URL} (relative to the working folder) "
            f"or sqlite:////abs/path.db (absolute); got {scheme!r}"
        )
    rest = url[len(_PREFIX) :]
    if not rest or rest.endswith("/") or rest == ":memory:" or "?" in rest:
        raise DatabaseURLError(
            f"DATABASE_URL must name a database file, without query options (for example {DEFAULT_DATABASE_URL}); "
            f"got {url!r}"
        )
    path = Path(rest)
    return path if path.is_absolute() else Path.cwd() / path


def redacted(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (in the user
    part and in a ``password=`` query option)."""
    url = _USER_PASSWORD.sub(rf"\1:{_HIDDEN}@", url, count=1)
    return _QUERY_PASSWORD.sub(rf"\1{_HIDDEN}", url)


def password(url: str) -> str:
    """The password in ``url`` (empty if none), to scrub from a driver's error text."""
    try:
        parts = urlsplit(url)
        found = parts.password or ""
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key.lower() == "password":
                found = found or value
        return found
    except ValueError:
        return ""
