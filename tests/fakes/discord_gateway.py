"""Gateway sessions of the Discord emulator: framing, compression, sequence numbers, intents.

discord.py connects with ``?v=10&encoding=json&compress=zlib-stream`` (or
``zstd-stream`` when a zstd module is importable) and decompresses binary frames
as one continuous stream, so the emulator compresses the same way; text frames
are what it sends when no transport compression was asked for.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

# Opcodes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Intents.
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# Which intent a guild event needs; events not listed are always sent.
EVENT_INTENTS = {
    "GUILD_CREATE": GUILDS,
    "GUILD_UPDATE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "CHANNEL_DELETE": GUILDS,
    "THREAD_CREATE": GUILDS,
    "THREAD_UPDATE": GUILDS,
    "THREAD_DELETE": GUILDS,
    "THREAD_MEMBERS_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
    "MESSAGE_CREATE": GUILD_MESSAGES,
    "MESSAGE_UPDATE": GUILD_MESSAGES,
    "MESSAGE_DELETE": GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": GUILD_MESSAGE_REACTIONS,
    "TYPING_START": GUILD_MESSAGE_TYPING,
}
# Message fields Discord blanks for an app without the message-content intent.
CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}


class Framer(Protocol):
    """Turns one gateway payload into one websocket frame."""

    def frame(self, text: str) -> str | bytes: ...


class TextFramer:
    def frame(self, text: str) -> str:
        return text


class ZlibStreamFramer:
    """One zlib stream for the whole connection, each payload ending on a sync flush."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj()

    def frame(self, text: str) -> bytes:
        return self._compressor.compress(text.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


class ZstdStreamFramer:
    """One zstd stream for the whole connection, each payload a flushed block."""

    def __init__(self, module: Any) -> None:
        self._compressor = module.ZstdCompressor().compressobj()
        self._flush_mode = module.COMPRESSOBJ_FLUSH_BLOCK

    def frame(self, text: str) -> bytes:
        return self._compressor.compress(text.encode()) + self._compressor.flush(self._flush_mode)


def framer_for(compress: str | None) -> Framer:
    """The framer for the ``compress`` query parameter the client asked for.

    ``zstd-stream`` needs the ``zstandard`` package, which discord.py itself uses
    to ask for it; without it the emulator falls back to text frames, which
    discord.py reads whatever it asked for.
    """
    if compress == "zlib-stream":
        return ZlibStreamFramer()
    if compress == "zstd-stream":
        try:
            import zstandard
        except ImportError:
            return TextFramer()
        return ZstdStreamFramer(zstandard)
    return TextFramer()


class Connection:
    """One websocket; compression state belongs to it, so writes are serialised."""

    def __init__(self, socket: web.WebSocketResponse, framer: Framer) -> None:
        self.socket = socket
        self.framer = framer
        self.session: GatewaySession | None = None
        self._lock = asyncio.Lock()

    async def write(self, payload: dict[str, Any]) -> None:
        async with self._lock:
            if self.socket.closed:
                return
            frame = self.framer.frame(json.dumps(payload))
            try:
                if isinstance(frame, bytes):
                    await self.socket.send_bytes(frame)
                else:
                    await self.socket.send_str(frame)
            except ConnectionError:
                return


@dataclass
class SentEvent:
    seq: int
    name: str
    data: dict[str, Any]


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard Discord sends a guild's events to; DMs (no guild) go to shard 0."""
    return 0 if guild_id is None else (guild_id >> 22) % shard_count


def guild_of_event(event: str, data: dict[str, Any]) -> int | None:
    """The guild an event belongs to, None for a DM."""
    raw = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else data.get("guild_id")
    return None if raw is None else int(raw)


@dataclass
class GatewaySession:
    """A session from IDENTIFY on; it outlives its websocket so RESUME can replay what was missed.

    ``shard`` is IDENTIFY's ``[shard_id, shard_count]``, None for an
    unsharded connection (which gets every guild's events)."""

    id: str
    intents: int
    shard: tuple[int, int] | None = None
    connection: Connection | None = None
    seq: int = 0
    sent: list[SentEvent] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def wants(self, event: str, data: dict[str, Any] | None = None) -> bool:
        """Whether this session is sent ``event``: its guild is on this
        session's shard, and the session's intents cover it (a message
        without a guild is a DM: DIRECT_MESSAGES)."""
        guild_id = guild_of_event(event, data or {}) if data is not None else None
        if data is not None and not self.receives(guild_id):
            return False
        needed = EVENT_INTENTS.get(event)
        if needed == GUILD_MESSAGES and data is not None and guild_id is None:
            needed = DIRECT_MESSAGES
        return needed is None or bool(self.intents & needed)

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord routes ``guild_id``'s events (None: DMs) to this session."""
        return self.shard is None or shard_of(guild_id, self.shard[1]) == self.shard[0]

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Number and log the event, then send it if a websocket is attached."""
        async with self._lock:
            self.seq += 1
            self.sent.append(SentEvent(self.seq, event, data))
            if self.connection is not None:
                await self.connection.write({"op": DISPATCH, "t": event, "s": self.seq, "d": data})

    async def resume_on(self, connection: Connection, after: int) -> None:
        """Attach a new websocket and send again every event after ``after``, as Discord does."""
        async with self._lock:
            self.connection = connection
            connection.session = self
            for event in self.sent:
                if event.seq > after:
                    await connection.write({"op": DISPATCH, "t": event.name, "s": event.seq, "d": event.data})
