"""The messages of each agent thread, and loading them back to fit a context."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from bot.store.clock import Clock, to_db
from bot.store.connection import SharedConnection
from bot.store.writer import Statement, Writer
from executor.llm import (
    AssistantMessage,
    Image,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
    estimate_tokens,
)

#: Images up to this size are stored with their bytes; larger ones by their
#: ``source`` reference only (and come back as a note in the text).
MAX_STORED_IMAGE_BYTES = 1024 * 1024

_COLUMNS = "role, content, reasoning, reasoning_signature, tool_calls, call_id, tool_name, is_error, images"


class Conversations:
    """Thread id -> its messages in order, each with the run that produced it."""

    def __init__(self, writer: Writer, reader: SharedConnection, clock: Clock) -> None:
        self._writer = writer
        self._reader = reader
        self._clock = clock

    async def append(self, thread_id: str, messages: Sequence[Message], run_id: str = "") -> None:
        """Add ``messages`` after the thread's last message. Atomic: all of
        them or none; returns once they are committed."""
        if not messages:
            return
        now = to_db(self._clock())
        await self._writer.write(*(_insert(thread_id, m, run_id, now) for m in messages))

    async def drop_images(self, thread_id: str, note: str) -> None:
        """Remove every image stored in the thread, adding ``note`` on a line
        of its own to each message that had one. For when a provider refused
        an image: it would be sent, and refused, on every later turn."""
        await self._writer.write(
            (
                "UPDATE conversation_messages SET images = '[]', content = content || ?"
                " WHERE thread_id = ? AND images != '[]'",
                (f"\n{note}", thread_id),
            )
        )

    async def load(self, thread_id: str, max_tokens: int) -> list[Message]:
        """The thread's newest messages whose ``estimate_tokens`` fits ``max_tokens``.

        Trimmed from the oldest, whole turns at a time: an assistant message
        with tool calls always comes with all of its tool results, and a tool
        result never comes without its call. Results whose call is gone are
        dropped, as is a tool-calling turn missing some of its results. When
        the newest turn alone does not fit, the list is empty.
        """
        turns: list[list[Message]] = []  # newest first
        total = 0
        results: list[ToolResultMessage] = []  # newer than any assistant message seen yet, newest first
        async with self._reader.transaction() as conn:
            async with conn.execute(
                f"SELECT {_COLUMNS} FROM conversation_messages WHERE thread_id = ? ORDER BY seq DESC", (thread_id,)
            ) as cursor:
                async for row in cursor:
                    message = _decode(row)
                    if isinstance(message, ToolResultMessage):
                        results.append(message)
                        continue
                    turn: list[Message] = _tool_turn(message, results) if isinstance(message, AssistantMessage) else [message]
                    results = []
                    if not turn:
                        continue
                    cost = estimate_tokens(turn)
                    if total + cost > max_tokens:
                        break
                    total += cost
                    turns.append(turn)
        turns.reverse()
        # Per-turn estimates round down separately; recheck the whole.
        while turns and estimate_tokens([m for t in turns for m in t]) > max_tokens:
            turns.pop(0)
        return [m for t in turns for m in t]


def _tool_turn(message: AssistantMessage, newer_results: list[ToolResultMessage]) -> list[Message]:
    """``message`` and the results that answer its calls, in order; empty when
    some call has no result. A plain assistant message is a turn by itself."""
    if not message.tool_calls:
        return [message]
    wanted = {c.id for c in message.tool_calls}
    answers = [r for r in reversed(newer_results) if r.call_id in wanted]
    if {r.call_id for r in answers} != wanted:
        return []
    return [message, *answers]


def _insert(thread_id: str, message: Message, run_id: str, now: str) -> Statement:
    return (
        f"INSERT INTO conversation_messages (thread_id, seq, {_COLUMNS}, run_id, created_at) VALUES"
        " (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM conversation_messages WHERE thread_id = ?),"
        " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (thread_id, thread_id, *_encode(message), run_id, now),
    )


def _encode(m: Message) -> tuple[Any, ...]:
    """The message as the values of ``_COLUMNS``."""
    if isinstance(m, AssistantMessage):
        calls = json.dumps([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in m.tool_calls])
        return (m.role, m.content, m.reasoning, m.reasoning_signature, calls, "", "", 0, "[]")
    if isinstance(m, ToolResultMessage):
        return (m.role, m.content, "", "", "[]", m.call_id, m.name, int(m.is_error), _encode_images(m.images))
    if isinstance(m, UserMessage):
        return (m.role, m.content, "", "", "[]", "", "", 0, _encode_images(m.images))
    return (m.role, m.content, "", "", "[]", "", "", 0, "[]")


def _encode_images(images: Sequence[Image]) -> str:
    return json.dumps(
        [
            {
                "media_type": i.media_type,
                "source": i.source,
                "data": i.b64() if len(i.data) <= MAX_STORED_IMAGE_BYTES else None,
            }
            for i in images
        ]
    )


def _decode(row: Any) -> Message:
    role = row["role"]
    if role == "assistant":
        calls = tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in json.loads(row["tool_calls"]))
        return AssistantMessage(row["content"], calls, row["reasoning"], row["reasoning_signature"])
    if role == "system":
        return SystemMessage(row["content"])
    images, content = _decode_images(row["images"], row["content"])
    if role == "tool":
        return ToolResultMessage(row["call_id"], row["tool_name"], content, bool(row["is_error"]), images)
    return UserMessage(content, images)


def _decode_images(stored: str, content: str) -> tuple[tuple[Image, ...], str]:
    """Stored images with their bytes; a note in the text for each one kept
    by reference only (the store does not fetch it again)."""
    images: list[Image] = []
    notes: list[str] = []
    for item in json.loads(stored):
        if item["data"] is not None:
            images.append(Image(base64.b64decode(item["data"]), item["media_type"], item["source"]))
        else:
            notes.append(f"[image not kept ({item['media_type']}): {item['source'] or 'no source recorded'}]")
    return tuple(images), "\n".join([content, *notes]) if notes else content
