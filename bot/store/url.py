"""DATABASE_URL -> the database file's path.

Only SQLite is supported: ``sqlite:///data/executus.db`` is relative to the
working folder, ``sqlite:////abs/path.db`` is absolute.
"""

from __future__ import annotations

from pathlib import Path

from bot.store.errors import StoreOpenError

DEFAULT_DATABASE_URL = "sqlite:///data/executus.db"

_PREFIX = "sqlite:///"


class DatabaseURLError(StoreOpenError, ValueError):
    """DATABASE_URL is not a SQLite file URL this store can open."""


def database_path(url: str) -> Path:
    """The absolute path of the database file ``url`` names.

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
