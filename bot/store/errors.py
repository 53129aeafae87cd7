"""The store's one error for "cannot open the database": the message is a
single line that names the setting to fix and says what is wrong, so
``python -m bot`` can print it as it is, without a traceback."""

from __future__ import annotations


class StoreOpenError(Exception):
    """The database (or the process's lock beside it) cannot be opened or used."""
