"""Members' memories: what agents with ``memory = true`` were asked to
remember, searched by full text (SQLite FTS5, or a PostgreSQL tsvector; see
migration 7).

Every operation names its scope and member, and no query reads past them:
one member never sees another's memories, and a guild's never reach another
guild or the member's DMs (their own scope, ``PERSONAL_SCOPE``).

Searches take plain words, never the databases' query languages: a member's
or model's text cannot make a query fail or widen it. Words are OR-ed and
the best matches come first, so "what is my favourite colour" finds
"favourite colour: teal".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.store.clock import Clock, from_db, to_db
from bot.store.database import Database, Row, Tx

#: Characters one memory may hold, and memories one member may keep per
#: scope: a memory is a fact or a preference, not a document.
MAX_MEMORY_CHARS = 1000
MAX_MEMORIES = 200
#: At most this many words of a search are used.
MAX_SEARCH_WORDS = 16
#: Words, as both databases' tokenizers split them (the underscore separates).
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Memory:
    id: int
    content: str
    created_at: datetime


class MemoryFull(Exception):
    """The member keeps MAX_MEMORIES already in this scope."""


class StoreMemory:
    """Remember, search, list and forget one member's memories in one scope."""

    def __init__(self, serial: Database, reader: Database, clock: Clock) -> None:
        self._serial = serial
        self._reader = reader
        self._clock = clock

    async def remember(self, scope: str, member_id: str, content: str) -> Memory:
        """Keep ``content`` (cut to MAX_MEMORY_CHARS); MemoryFull when the
        member has MAX_MEMORIES here. The count and the insert are one
        transaction per member, so two at once cannot pass the cap together."""
        text, now = content.strip()[:MAX_MEMORY_CHARS], self._clock()
        return await self._serial.transact(
            lambda tx: _remember(tx, scope, member_id, text, now), write=True, key=f"memory:{scope}:{member_id}"
        )

    async def search(self, scope: str, member_id: str, query: str, limit: int = 5) -> list[Memory]:
        """The member's memories that share a word with ``query``, best first;
        the newest ones when ``query`` has no word."""
        words = _WORD.findall(query.casefold())[:MAX_SEARCH_WORDS]
        if not words:
            return await self.recent(scope, member_id, limit)
        return await self._reader.transact(lambda tx: _search(tx, scope, member_id, words, limit))

    async def recent(self, scope: str, member_id: str, limit: int = MAX_MEMORIES) -> list[Memory]:
        """The member's memories here, newest first."""
        rows = await self._reader.transact(
            lambda tx: tx.fetchall(
                "SELECT id, content, created_at FROM memories WHERE scope = ? AND member_id = ?"
                " ORDER BY id DESC LIMIT ?",
                (scope, member_id, limit),
            )
        )
        return [_memory(r) for r in rows]

    async def forget(self, scope: str, member_id: str, memory_id: int | None = None) -> int:
        """Delete one memory of the member (``memory_id``), or all of them
        here (None); how many were deleted (0 when the id is not theirs)."""
        sql = "DELETE FROM memories WHERE scope = ? AND member_id = ?"
        params: tuple[object, ...] = (scope, member_id)
        if memory_id is not None:
            sql, params = sql + " AND id = ?", (*params, memory_id)
        return await self._serial.transact(lambda tx: tx.execute(sql, params), write=True)


async def _remember(tx: Tx, scope: str, member_id: str, content: str, now: datetime) -> Memory:
    row = await tx.fetchone("SELECT COUNT(*) FROM memories WHERE scope = ? AND member_id = ?", (scope, member_id))
    if row is not None and int(row[0]) >= MAX_MEMORIES:
        raise MemoryFull(f"{MAX_MEMORIES} memories kept already")
    created = await tx.fetchone(
        "INSERT INTO memories (scope, member_id, content, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (scope, member_id, content, to_db(now)),
    )
    assert created is not None  # RETURNING always returns the row
    return Memory(int(created[0]), content, now)


async def _search(tx: Tx, scope: str, member_id: str, words: list[str], limit: int) -> list[Memory]:
    if tx.dialect.name == "sqlite":
        # Each word quoted: FTS5 then reads it as a term, never as syntax.
        rows = await tx.fetchall(
            "SELECT m.id, m.content, m.created_at FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid"
            " WHERE memories_fts MATCH ? AND m.scope = ? AND m.member_id = ?"
            " ORDER BY memories_fts.rank, m.id DESC LIMIT ?",
            (" OR ".join(f'"{w}"' for w in words), scope, member_id, limit),
        )
    else:
        # Words are letters and digits only, so they cannot be tsquery syntax.
        query = " | ".join(words)
        rows = await tx.fetchall(
            "SELECT id, content, created_at FROM memories"
            " WHERE scope = ? AND member_id = ? AND search @@ to_tsquery('simple', ?)"
            " ORDER BY ts_rank(search, to_tsquery('simple', ?)) DESC, id DESC LIMIT ?",
            (scope, member_id, query, query, limit),
        )
    return [_memory(r) for r in rows]


def _memory(row: Row) -> Memory:
    return Memory(int(row["id"]), row["content"], from_db(row["created_at"]))
