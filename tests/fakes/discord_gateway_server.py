"""The Discord emulator's gateway: the websocket the bot connects to, IDENTIFY
and RESUME checked like Discord does, member chunks, and dispatching events
with what the bot's intents let it see (wire details in ``discord_gateway``).

Sharding as Discord does it: IDENTIFY's ``shard`` is ``[shard_id,
shard_count]``, and a shard is sent only its guilds, those with
``(guild_id >> 22) % shard_count == shard_id`` (READY's guild list,
GUILD_CREATE and every guild event), and DMs only on shard 0."""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from .discord_gateway import (
    CONTENT_FIELDS,
    GUILD_MEMBERS,
    GUILD_PRESENCES,
    HEARTBEAT,
    HEARTBEAT_ACK,
    HELLO,
    IDENTIFY,
    INVALID_SESSION,
    MESSAGE_CONTENT,
    PRESENCE_UPDATE,
    PRIVILEGED_INTENTS,
    RECONNECT,
    REQUEST_GUILD_MEMBERS,
    RESUME,
    VOICE_STATE_UPDATE,
    Connection,
    GatewaySession,
    framer_for,
)
from .discord_http import HTTPPlumbing

# Application flags for privileged intents enabled in the developer portal (the
# "limited" variants, those of a bot in fewer than 100 servers).
APP_FLAG_FOR_INTENT = {GUILD_PRESENCES: 1 << 13, GUILD_MEMBERS: 1 << 15, MESSAGE_CONTENT: 1 << 19}
APPLICATION_COMMAND_BADGE = 1 << 23


class GatewayServer(HTTPPlumbing):
    """The gateway: a request to ``/`` that is not a websocket gets REST's 404."""

    async def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        """Dispatch to the bot's sessions, each with what its shard and intents
        let it see: the newest of each shard (even while it reconnects, so
        RESUME replays the event) and every other connected one (two processes
        on one token, unsharded, each get every event, as on Discord)."""
        newest = set(map(id, self._newest.values()))
        for session in [s for s in self._sessions.values() if id(s) in newest or s.connection is not None]:
            if not session.wants(event, data):
                continue
            seen = data
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.intents & MESSAGE_CONTENT:
                mentioned = any(user["id"] == str(self.bot_user.id) for user in data.get("mentions", []))
                if data.get("author", {}).get("id") != str(self.bot_user.id) and not mentioned:
                    seen = {**data, **CONTENT_FIELDS}
            await session.dispatch(event, seen)
        self._notify()

    async def send_reconnect(self) -> None:
        """Ask the bot to reconnect (opcode 7); discord.py then RESUMEs its session."""
        if self._session is not None and self._session.connection is not None:
            await self._session.connection.write({"op": RECONNECT, "d": None})

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        socket_response = web.WebSocketResponse(max_msg_size=0)
        if not socket_response.can_prepare(request).ok:
            return await self._unknown_route(request)
        await socket_response.prepare(request)
        self.gateway_queries.append(dict(request.query))
        connection = Connection(socket_response, framer_for(request.query.get("compress")))
        self._connections.add(connection)
        try:
            if request.query.get("encoding", "json") != "json":
                await socket_response.close(code=4002, message=b"Only JSON encoding is emulated.")
                return socket_response
            await connection.write({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for frame in socket_response:
                try:
                    payload = json.loads(frame.data)
                except (TypeError, ValueError):
                    await socket_response.close(code=4002, message=b"Error while decoding payload.")
                    break
                self.gateway_received.append(payload)
                if not await self._gateway_op(connection, payload.get("op"), payload.get("d")):
                    break
        finally:
            self._connections.discard(connection)
            if connection.session is not None and connection.session.connection is connection:
                connection.session.connection = None
            self._notify()
        return socket_response

    async def _gateway_op(self, connection: Connection, op: Any, data: Any) -> bool:
        """Handle one payload from the bot; False when the websocket was closed."""
        close = connection.socket.close
        data = data if isinstance(data, dict) else {}
        if op == HEARTBEAT:
            await connection.write({"op": HEARTBEAT_ACK})
        elif op == IDENTIFY:
            if connection.session is not None:
                await close(code=4005, message=b"Already authenticated.")
                return False
            return await self._identify(connection, data)
        elif op == RESUME:
            session = self._sessions.get(data.get("session_id"))
            if session is None or data.get("token") != self.token:
                await connection.write({"op": INVALID_SESSION, "d": False})
                return True
            await session.resume_on(connection, data.get("seq") or 0)
            self._session = self._newest[session.shard] = session
            await session.dispatch("RESUMED", {})
        elif connection.session is None:
            await close(code=4003, message=b"Not authenticated.")
            return False
        elif op == REQUEST_GUILD_MEMBERS:
            await self._send_member_chunk(connection.session, data)
        elif op not in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            await close(code=4001, message=b"Unknown opcode.")
            return False
        return True

    async def _identify(self, connection: Connection, data: dict[str, Any]) -> bool:
        """Check the token and intents like Discord, then send READY and the guild."""
        if data.get("token") != self.token:
            await connection.socket.close(code=4004, message=b"Authentication failed.")
            return False
        intents = data.get("intents")
        if not isinstance(intents, int):
            await connection.socket.close(code=4013, message=b"Invalid intent(s).")
            return False
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await connection.socket.close(code=4014, message=b"Disallowed intent(s).")
            return False
        shard = data.get("shard")
        if shard is not None and not (
            isinstance(shard, list) and len(shard) == 2 and all(type(n) is int for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            await connection.socket.close(code=4010, message=b"Invalid shard.")
            return False
        session = GatewaySession(
            id=secrets.token_hex(16), intents=intents, shard=None if shard is None else (shard[0], shard[1]),
            connection=connection,
        )
        connection.session = session
        self._sessions[session.id] = session
        self._session = self._newest[session.shard] = session
        guilds = [guild for guild in self.guilds.values() if session.receives(guild.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(guild.id), "unavailable": True} for guild in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "auth": {},
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
        }
        if shard is not None:
            ready["shard"] = shard
        await session.dispatch("READY", ready)
        if session.wants("GUILD_CREATE"):
            visible = None if intents & GUILD_MEMBERS else {self.bot_user.id}
            for guild in guilds:
                await session.dispatch("GUILD_CREATE", guild.create_payload(member_ids=visible))
        self._ready.set()
        self._notify()
        return True

    async def _send_member_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild = self.guilds.get(int(data.get("guild_id") or self.guild.id), self.guild)
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {int(user_id) for user_id in data["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif data.get("query"):
            members = [m for m in members if m.user.username.lower().startswith(str(data["query"]).lower())]
        if data.get("limit"):
            members = members[: data["limit"]]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [member.payload() for member in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _application_flags(self) -> int:
        flags = APPLICATION_COMMAND_BADGE
        for intent, flag in APP_FLAG_FOR_INTENT.items():
            if self.privileged_intents & intent:
                flags |= flag
        return flags
