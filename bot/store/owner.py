"""Which process owns a database: an advisory lock file beside it.

Start-up recovery marks every ``running`` run ``interrupted``; that is only
right when no other process is using the database (``python -m bot chat``
next to a running bot would otherwise "recover" the bot's live runs). The
owner holds an exclusive ``flock`` for as long as its store is open; the
operating system drops it when the process dies, so the next process to
open the database after a crash becomes the owner and recovers.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class OwnerLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".owner")
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True if this process now owns the database; False if another does."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock
