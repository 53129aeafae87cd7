"""Which process owns each run, and which owners are gone.

Every process that opens the store has an identity, its EXECUTOR_ID (by
default host, pid and a random part). It records that id as the owner of the
runs it starts and of their budget reservations, and holds an exclusive
``flock`` on ``<db>.owners/<id>.lock`` while its store is open. The
operating system drops the lock when the process dies, however it dies, so
a free lock means a gone owner. Start-up recovery takes over only the runs
of owners that are gone: runs live in another process (the console next to
the bot, a second bot) are left alone, whichever process starts first.

``Owners`` is the question recovery asks. On SQLite lock files answer it
(``OwnerLocks``); a store shared by several machines (PostgreSQL) answers it
with leases the owners renew, and treats an expired lease as a free lock
(``leases.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Collection
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from bot.store.database import Tx
from bot.store.errors import StoreOpenError

#: What an EXECUTOR_ID may hold: it names a lock file.
EXECUTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: How long a starting process waits for its own lock. A peer holds it
#: briefly while it recovers the runs a dead process with the same
#: EXECUTOR_ID left; a live process holds it for good.
OWN_LOCK_WAIT = 5.0
_POLL = 0.05


def new_executor_id() -> str:
    """``host-pid-random``: unique per process, and readable in the audit."""
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname()).strip("-.")[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def check_executor_id(value: str) -> str:
    if not EXECUTOR_ID.fullmatch(value):
        raise ValueError(
            f"EXECUTOR_ID: {value!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


class Owners(Protocol):
    """This process's hold on its own id, and the test of other owners'."""

    owner_id: str

    async def hold(self) -> None:
        """Take this process's id; StoreOpenError when a live process has it."""
        ...

    async def release(self) -> None:
        """Give the id up (the store is closing). Idempotent."""
        ...

    def claim_gone(self, tx: Tx, owner_ids: Collection[str]) -> AbstractAsyncContextManager[frozenset[str]]:
        """Of ``owner_ids``, those whose process is gone, held so that none of
        them can come back (and start runs) until the block ends. Used inside
        the recovery transaction ``tx``, its only awaits on ``tx``."""
        ...


class OwnerLocks:
    """This process's lock, and the test of other owners' locks.

    A lock file is removed by whoever last holds it (its owner closing, or a
    peer that found it free), so a lock is only trusted once the file it was
    taken on is still the one at the path (``_lock``).
    """

    def __init__(self, database: Path, owner_id: str) -> None:
        self.owner_id = check_executor_id(owner_id)
        self.folder = database.with_name(database.name + ".owners")
        self._fd: int | None = None

    def path(self, owner_id: str) -> Path:
        return self.folder / f"{owner_id}.lock"

    async def hold(self, wait: float | None = None) -> None:
        """Take this process's lock; StoreOpenError if another live process
        holds it (two processes given one EXECUTOR_ID) for ``wait`` seconds
        (default OWN_LOCK_WAIT)."""
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreOpenError(f"cannot create the lock folder {self.folder}: {exc.strerror}") from None
        deadline = time.monotonic() + (OWN_LOCK_WAIT if wait is None else wait)
        while (fd := _lock(self.path(self.owner_id))) is None:
            if time.monotonic() >= deadline:
                raise StoreOpenError(
                    f"EXECUTOR_ID {self.owner_id!r} is in use by another process on this database "
                    f"({self.path(self.owner_id)} is locked): give each process its own EXECUTOR_ID"
                )
            await asyncio.sleep(_POLL)
        self._fd = fd

    async def release(self) -> None:
        """Remove the lock file and drop the lock. Idempotent."""
        fd, self._fd = self._fd, None
        if fd is not None:
            _drop(self.path(self.owner_id), fd)

    @contextlib.asynccontextmanager
    async def claim_gone(self, tx: Tx, owner_ids: Collection[str]) -> AsyncIterator[frozenset[str]]:
        """Owners.claim_gone, for start-up, before this process starts any run:
        its own id counts as gone (rows under it are a previous process's with
        the same EXECUTOR_ID). Ids no process could hold a lock for (``''``,
        left by a version that did not record owners) are gone too. Lock files
        of other gone owners are removed on the way."""
        on_disk = {p.stem for p in self.folder.glob("*.lock")}
        held: dict[str, int] = {}
        gone: set[str] = set()
        try:
            for owner_id in sorted(set(owner_ids) | on_disk):
                if owner_id == self.owner_id or not EXECUTOR_ID.fullmatch(owner_id):
                    gone.add(owner_id)
                elif (fd := _lock(self.path(owner_id))) is not None:
                    held[owner_id] = fd
                    gone.add(owner_id)
            yield frozenset(gone & set(owner_ids))
        finally:
            for owner_id, fd in held.items():
                _drop(self.path(owner_id), fd)


def _lock(path: Path) -> int | None:
    """A descriptor holding an exclusive flock on the file at ``path`` (created
    if missing), or None when another descriptor holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # Its holder may have removed the file between our open and flock: a
        # lock on a removed file guards nothing, so take the new file's.
        try:
            here = os.stat(path)
        except FileNotFoundError:
            here = None
        mine = os.fstat(fd)
        if here is not None and (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino):
            return fd
        os.close(fd)


def _drop(path: Path, fd: int) -> None:
    """Remove the lock file while still holding it, then let go."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.close(fd)
