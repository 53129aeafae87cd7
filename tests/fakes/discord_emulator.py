"""A Discord emulator on loopback that the unmodified discord.py client connects to.

End-to-end tests and benchmarks run the real bot against it: the REST API under
``/api/v10`` and the gateway websocket are served by one aiohttp application on
``127.0.0.1`` and a random port, for one guild with an owner, an administrator,
an ordinary member and the bot. Everything the bot sends is recorded for
inspection, and every JSON body is checked against Discord's published OpenAPI
schemas (``emu.violations``), so a body Discord would refuse fails the test.

Pointing discord.py at it takes two class attributes (see ``patch_discord``)::

    discord.http.Route.BASE = emu.api_base            # REST, interaction callbacks and webhooks
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)

``discord.Client.connect`` never asks ``GET /gateway``: it connects to
``DEFAULT_GATEWAY`` and later to READY's ``resume_gateway_url``. Interaction
responses and followups go through ``discord.webhook.async_``, which builds the
same ``discord.http.Route`` objects, so ``Route.BASE`` covers them too.

Typical use::

    async with DiscordEmulator() as emu:
        with emu.patch_discord():
            ...  # log the bot in with emu.token and start it
            await emu.wait_until_ready()
            interaction = await emu.send_slash_command("ask", {"prompt": "hi"}, user=emu.member)
            await emu.wait_for(lambda: interaction.acknowledged)

The world (``discord_model`` records): ``emu.guild`` with ``owner`` (all
permissions), ``admin`` (Admin role: Administrator and Manage Server),
``member`` (no role, no Manage Server), ``bot_member``/``bot_user``, roles
``admin_role``, ``manager_role`` (Manage Server only) and ``bot_role``, text
channels ``general`` and ``random``. ``add_member(name, manage_guild=...)``
adds people; ``permissions_of(who)`` is what interactions carry as
``member.permissions`` (``app_permissions`` is the bot's).

Acting as Discord users (each dispatches over the gateway, after READY):
``send_slash_command(name, options, user=, channel=)`` (subcommands as
``"group sub"``; ``Member``, ``Channel``, ``Role`` and ``upload(...)`` values
are resolved like Discord does), ``click_button(message, custom_id)``,
``select(message, custom_id, values)``, ``submit_modal(interaction, values)``,
``post_message(content, user=, channel=, attachments=, reply_to=)``,
``start_thread(name, ...)``, ``announce_member(member)`` and
``send_reconnect()``. The command helpers return the ``Interaction`` record.

Inspecting what the bot did: ``messages_in(channel)`` / ``message(id)``
(content, embeds, components, attachments with their bytes, ``allowed_mentions``
as sent, flags, the mentions that really ping, ``edits`` with the body of each
edit, ``reactions``), ``threads`` (type, name, parent, auto-archive, members),
``interactions`` (callbacks with their types and arrival times next to
``dispatched_at``, ``ack_latency``, original and followup message ids, modal),
``global_commands``/``guild_commands``/``command_syncs``, ``typing``,
``requests`` (every REST call), ``unknown_routes``, ``violations``,
``gateway_received`` and ``gateway_queries``. ``wait_for(predicate)`` waits
for any of it.

Discord behaviours it reproduces because a bot can get them wrong: the 3 s
acknowledgement deadline, "already acknowledged", followups only after an
acknowledgement and the first followup after a "thinking" defer replacing
that placeholder, empty messages refused, the 2000-character content limit,
ephemeral messages never reaching the gateway, intents (privileged ones
refused unless enabled, message content blanked without MESSAGE_CONTENT),
and RESUME replaying missed events. Not emulated: rate limits, channel
permission overwrites and permission checks on REST calls, DMs, forums,
webhooks other than interaction ones, voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import BodyPartReader, web

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
from .discord_model import (
    ADMINISTRATOR,
    BOT_ROLE_PERMISSIONS,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    GUILD_ANNOUNCEMENT,
    GUILD_CATEGORY,
    GUILD_TEXT,
    LOADING,
    MANAGE_GUILD,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    SETTABLE_FLAGS,
    Attachment,
    Callback,
    Channel,
    Guild,
    Interaction,
    Member,
    Message,
    MessageEdit,
    Role,
    Snowflakes,
    Upload,
    User,
    resolve_mentions,
    utcnow,
    walk_components,
)
from .discord_specs import check_body, content_problems

T = TypeVar("T")
API_PREFIX = "/api/v10"
JSON_HEADERS = {"Content-Type": "application/json"}
# What the middleware read from a request, for the handlers.
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
UPLOADS: web.RequestKey[dict[int, Upload]] = web.RequestKey("uploads", dict)
RECEIVED_AT = web.RequestKey("received_at", float)
# Application flags for privileged intents enabled in the developer portal (the
# "limited" variants, those of a bot in fewer than 100 servers).
APP_FLAG_FOR_INTENT = {GUILD_PRESENCES: 1 << 13, GUILD_MEMBERS: 1 << 15, MESSAGE_CONTENT: 1 << 19}
APPLICATION_COMMAND_BADGE = 1 << 23
# Interaction types, and the callback types Discord accepts for each.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
CALLBACKS_FOR = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
# Message types.
DEFAULT_MESSAGE = 0
REPLY = 19
CHAT_INPUT_COMMAND = 20
# Application command option types, and component types.
CHAT_INPUT = 1
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
BUTTON, STRING_SELECT, TEXT_INPUT, LABEL, ACTION_ROW = 2, 3, 4, 18, 1


class DiscordHTTPError(Exception):
    """An error answered the way Discord shapes it: ``{"message", "code"}`` and a status."""

    def __init__(self, status: int, code: int, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = {"_errors": [{"code": "INVALID", "message": error} for error in self.errors]}
        return json_response(body, self.status)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json``.

    discord.py decodes a body only when the header equals that string, so the
    ``; charset=utf-8`` aiohttp adds by default would turn every answer into text.
    """
    return web.Response(body=json.dumps(data).encode(), status=status, headers=JSON_HEADERS)


def no_content() -> web.Response:
    return web.Response(status=204)


def unknown(kind: str, code: int) -> DiscordHTTPError:
    return DiscordHTTPError(404, code, f"Unknown {kind}")


@dataclass
class RequestRecord:
    """One HTTP request the bot made; ``at`` is ``time.monotonic()`` on arrival."""

    method: str
    path: str
    query: dict[str, str]
    at: float
    operation: str | None
    body: Any = None
    files: list[str] = field(default_factory=list)
    status: int = 0


@dataclass
class Violation:
    """A request body that does not match Discord's published schema."""

    method: str
    path: str
    operation: str
    problems: list[str]
    body: Any

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.operation}): {'; '.join(self.problems)}"


@dataclass
class CommandSync:
    """One bulk overwrite of application commands; ``guild_id`` is None for global commands."""

    guild_id: int | None
    body: list[dict[str, Any]]
    at: float


@dataclass
class _Route:
    operation: str | None
    authenticated: bool


class DiscordEmulator:
    """Discord's REST API and gateway for one guild, on ``127.0.0.1`` and a random port.

    ``reject_invalid`` answers a body that fails the schema check with Discord's
    400 as well as recording it; ``ack_deadline`` is the 3 seconds Discord gives
    a bot to acknowledge an interaction (None disables it).
    ``privileged_intents`` are those enabled for the application; asking for
    others closes the gateway with 4014 like Discord does. ``check_schemas``
    off skips the OpenAPI check (benchmarks: it costs more than the bot's
    own work; the tests keep it on); the 2000-character content limit is
    enforced either way, as Discord does.
    """

    def __init__(
        self,
        *,
        token: str = "emulator-bot-token",
        reject_invalid: bool = True,
        ack_deadline: float | None = 3.0,
        heartbeat_interval_ms: int = 41250,
        privileged_intents: int = PRIVILEGED_INTENTS,
        check_schemas: bool = True,
    ) -> None:
        self.token = token
        self.check_schemas = check_schemas
        self.reject_invalid = reject_invalid
        self.ack_deadline = ack_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents = privileged_intents

        self.requests: list[RequestRecord] = []
        self.unknown_routes: list[RequestRecord] = []
        self.violations: list[Violation] = []
        self.interactions: list[Interaction] = []
        self.command_syncs: list[CommandSync] = []
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.typing: list[tuple[int, float]] = []
        self.gateway_received: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.files: dict[int, Attachment] = {}

        self._ids = Snowflakes()
        self._messages: dict[int, Message] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._sessions: dict[str, GatewaySession] = {}
        self._session: GatewaySession | None = None
        self._connections: set[Connection] = set()
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._routes: dict[web.AbstractRoute, _Route] = {}
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._build_world()

    # ------------------------------------------------------------------ world

    def _build_world(self) -> None:
        ids = self._ids
        bot = User(ids.next(), "executus", bot=True)
        owner = User(ids.next(), "owner", global_name="Guild Owner")
        self.application_id = bot.id
        self.guild = guild = Guild(ids.next(), "Executus Test Guild", owner_id=owner.id)
        guild.roles[guild.id] = Role(guild.id, "@everyone", EVERYONE_PERMISSIONS, position=0)
        self.bot_role = self._add_role(Role(ids.next(), "executus", BOT_ROLE_PERMISSIONS, position=1, bot_id=bot.id))
        self.manager_role = self._add_role(Role(ids.next(), "Server Manager", MANAGE_GUILD, position=2))
        self.admin_role = self._add_role(Role(ids.next(), "Admin", ADMINISTRATOR | MANAGE_GUILD, position=3))
        self.users: dict[int, User] = {}
        self.bot_member = self._add_member(bot, [self.bot_role.id])
        self.owner = self._add_member(owner, [])
        self.admin = self._add_member(User(ids.next(), "alice", global_name="Alice"), [self.admin_role.id])
        self.member = self._add_member(User(ids.next(), "bob", global_name="Bob"), [])
        category = self._add_channel(Channel(ids.next(), GUILD_CATEGORY, "Text Channels", guild.id))
        self.general = self._add_channel(Channel(ids.next(), GUILD_TEXT, "general", guild.id, parent_id=category.id))
        self.random = self._add_channel(
            Channel(ids.next(), GUILD_TEXT, "random", guild.id, position=1, parent_id=category.id)
        )

    def _add_role(self, role: Role) -> Role:
        self.guild.roles[role.id] = role
        return role

    def _add_member(self, user: User, role_ids: list[int]) -> Member:
        self.users[user.id] = user
        member = self.guild.members[user.id] = Member(user, role_ids)
        return member

    def _add_channel(self, channel: Channel) -> Channel:
        self.guild.channels[channel.id] = channel
        return channel

    @property
    def bot_user(self) -> User:
        return self.bot_member.user

    def permissions_of(self, who: Member | User) -> int:
        return self.guild.permissions_of(self._member(who))

    def _member(self, who: Member | User | None) -> Member:
        if who is None:
            return self.member
        member = self.guild.members.get(who.id)
        if member is None:
            raise LookupError(f"{who} is not a member of the guild")
        return member

    def _channel_of(self, channel: Channel | int | None) -> Channel:
        if channel is None:
            return self.general
        channel_id = channel if isinstance(channel, int) else channel.id
        found = self.guild.channels.get(channel_id)
        if found is None or found.deleted:
            raise LookupError(f"no channel {channel_id}")
        return found

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` must be set to."""
        return f"ws://127.0.0.1:{self._port}/"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        self._port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()

    async def stop(self) -> None:
        """Close every gateway websocket, then the server.

        Stop the bot first: discord.py reconnects when its websocket goes away.
        """
        for connection in list(self._connections):
            await connection.socket.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at the emulator, restoring them after."""
        import discord.gateway
        import discord.http
        import yarl

        base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway

    # --------------------------------------------------------------- waiting

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], T | None], *, timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked whenever the emulator records something, and every 50 ms so
        predicates about the bot's own state work too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_until_ready(self, *, timeout: float = 10.0) -> None:
        """Wait until a bot has identified (and, given the GUILDS intent, been sent its guild)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # ------------------------------------------------------------ inspection

    def messages_in(self, channel: Channel | int, *, include_deleted: bool = False) -> list[Message]:
        """Messages of a channel or thread, oldest first."""
        channel_id = channel if isinstance(channel, int) else channel.id
        return [
            m for m in self._messages.values() if m.channel_id == channel_id and (include_deleted or not m.deleted)
        ]

    def message(self, message_id: int) -> Message:
        return self._messages[message_id]

    @property
    def messages(self) -> list[Message]:
        return list(self._messages.values())

    @property
    def threads(self) -> list[Channel]:
        """Every thread created so far, by the bot or by simulated users, oldest first."""
        return [channel for channel in self.guild.channels.values() if channel.is_thread]

    def channel(self, name: str) -> Channel:
        return next(c for c in self.guild.channels.values() if c.name == name and not c.deleted)

    def interaction(self, interaction_id: int) -> Interaction:
        return next(i for i in self.interactions if i.id == interaction_id)

    # ------------------------------------------------------ gateway plumbing

    async def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        """Dispatch to the bot's sessions, each with what its intents let it see:
        the newest (even while it reconnects, so RESUME replays the event) and
        every other connected one (two processes on one token, unsharded, each
        get every event, as on Discord)."""
        for session in [s for s in self._sessions.values() if s is self._session or s.connection is not None]:
            if not session.wants(event):
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
            self._session = session
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
        session = GatewaySession(id=secrets.token_hex(16), intents=intents, connection=connection)
        connection.session = session
        self._sessions[session.id] = session
        self._session = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(self.guild.id), "unavailable": True}],
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
        if data.get("shard") is not None:
            ready["shard"] = data["shard"]
        await session.dispatch("READY", ready)
        if session.wants("GUILD_CREATE"):
            visible = None if intents & GUILD_MEMBERS else {self.bot_user.id}
            await session.dispatch("GUILD_CREATE", self.guild.create_payload(member_ids=visible))
        self._ready.set()
        self._notify()
        return True

    async def _send_member_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        members = list(self.guild.members.values())
        if data.get("user_ids"):
            wanted = {int(user_id) for user_id in data["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif data.get("query"):
            members = [m for m in members if m.user.username.lower().startswith(str(data["query"]).lower())]
        if data.get("limit"):
            members = members[: data["limit"]]
        chunk: dict[str, Any] = {
            "guild_id": str(self.guild.id),
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

    # ---------------------------------------------------------- HTTP plumbing

    def _add_routes(self, app: web.Application) -> None:
        Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
        table: list[tuple[str, str, Handler, str | None, bool]] = [
            ("GET", "/gateway", self._get_gateway, None, False),
            ("GET", "/gateway/bot", self._get_gateway_bot, None, True),
            ("GET", "/users/@me", self._get_me, None, True),
            ("GET", "/users/{user_id}", self._get_user, None, True),
            ("GET", "/applications/@me", self._get_application, None, True),
            ("GET", "/oauth2/applications/@me", self._get_application, None, True),
            ("GET", "/applications/{application_id}/commands", self._list_commands, None, True),
            ("PUT", "/applications/{application_id}/commands", self._bulk_set_commands,
             "bulk_set_application_commands", True),
            ("POST", "/applications/{application_id}/commands", self._create_command,
             "create_application_command", True),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._list_commands, None, True),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._bulk_set_commands,
             "bulk_set_guild_application_commands", True),
            ("POST", "/applications/{application_id}/guilds/{guild_id}/commands", self._create_command,
             "create_guild_application_command", True),
            ("GET", "/guilds/{guild_id}", self._get_guild, None, True),
            ("GET", "/guilds/{guild_id}/channels", self._get_guild_channels, None, True),
            ("GET", "/guilds/{guild_id}/roles", self._get_roles, None, True),
            ("GET", "/guilds/{guild_id}/members", self._list_members, None, True),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member, None, True),
            ("GET", "/guilds/{guild_id}/threads/active", self._get_active_threads, None, True),
            ("GET", "/channels/{channel_id}", self._get_channel, None, True),
            ("PATCH", "/channels/{channel_id}", self._update_channel, "update_channel", True),
            ("DELETE", "/channels/{channel_id}", self._delete_channel, None, True),
            ("GET", "/channels/{channel_id}/messages", self._list_messages, None, True),
            ("POST", "/channels/{channel_id}/messages", self._create_message, "create_message", True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, None, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._update_message, "update_message", True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, None, True),
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._react, None, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._unreact,
             None, True),
            ("POST", "/channels/{channel_id}/typing", self._typing, None, True),
            ("POST", "/channels/{channel_id}/threads", self._create_thread, "create_thread", True),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._create_thread_from_message,
             "create_thread_from_message", True),
            ("GET", "/channels/{channel_id}/thread-members", self._list_thread_members, None, True),
            ("GET", "/channels/{channel_id}/thread-members/{user_id}", self._get_thread_member, None, True),
            ("PUT", "/channels/{channel_id}/thread-members/{user_id}", self._add_thread_member, None, True),
            ("DELETE", "/channels/{channel_id}/thread-members/{user_id}", self._remove_thread_member, None, True),
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self._interaction_callback,
             "create_interaction_response", False),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self._execute_webhook, "execute_webhook", False),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", self._get_webhook_message,
             None, False),
            ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", self._edit_webhook_message,
             "update_original_webhook_message", False),
            ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/@original", self._delete_webhook_message,
             None, False),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self._get_webhook_message,
             None, False),
            ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self._edit_webhook_message,
             "update_webhook_message", False),
            ("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self._delete_webhook_message,
             None, False),
        ]
        for method, path, handler, operation, authenticated in table:
            route = app.router.add_route(method, API_PREFIX + path, handler)
            self._routes[route] = _Route(operation, authenticated)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._download)
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record the request, check auth and the body's schema, and shape errors like Discord."""
        route = self._routes.get(request.match_info.route)
        if route is None:
            return await handler(request)
        record = RequestRecord(request.method, request.path, dict(request.query), time.monotonic(), route.operation)
        self.requests.append(record)
        request[RECEIVED_AT] = record.at
        try:
            if route.authenticated and request.headers.get("Authorization") != f"Bot {self.token}":
                raise DiscordHTTPError(401, 0, "401: Unauthorized")
            try:
                body, uploads = await self._read_body(request)
            except DiscordHTTPError as error:
                if route.operation is not None:
                    violation = Violation(record.method, record.path, route.operation, [error.message], None)
                    self.violations.append(violation)
                raise
            record.body, record.files = body, [upload.filename for upload in uploads.values()]
            request[BODY], request[UPLOADS] = body, uploads
            if route.operation is not None:
                self._check(record, route.operation, body, len(uploads))
            response = await handler(request)
        except DiscordHTTPError as error:
            response = error.response()
        record.status = response.status
        self._notify()
        return response

    async def _read_body(self, request: web.Request) -> tuple[Any, dict[int, Upload]]:
        """The JSON body (or multipart ``payload_json``) and the ``files[n]`` parts by index."""
        uploads: dict[int, Upload] = {}
        if not request.can_read_body:
            return None, uploads
        if request.content_type == "multipart/form-data":
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if name == "payload_json":
                    body = self._parse_json(await part.read())
                elif name.startswith("files[") and name.endswith("]") and name[6:-1].isdigit():
                    upload = Upload(part.filename or name, bytes(await part.read()), part.headers.get("Content-Type"))
                    uploads[int(name[6:-1])] = upload
            return body, uploads
        return self._parse_json(await request.read()), uploads

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from None

    def _check(self, record: RequestRecord, operation: str, body: Any, uploads: int) -> None:
        if not self.check_schemas:
            problems = content_problems(operation, body)
        elif body is None:
            problems = ["the request has no JSON body"]
        else:
            problems = check_body(operation, body, uploads=uploads)
        if not problems:
            return
        self.violations.append(Violation(record.method, record.path, operation, problems, body))
        if self.reject_invalid:
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", problems)

    async def _unknown_route(self, request: web.Request) -> web.StreamResponse:
        """Discord's 404 for a route it does not have; recorded so tests see what was missing."""
        record = RequestRecord(request.method, request.path, dict(request.query), time.monotonic(), None, status=404)
        if request.can_read_body:
            record.body = (await request.read()).decode(errors="replace")
        self.requests.append(record)
        self.unknown_routes.append(record)
        self._notify()
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        attachment = self.files.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404)
        return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})

    # ---------------------------------------------------------- REST lookups

    def _path_channel(self, request: web.Request) -> Channel:
        channel = self.guild.channels.get(_snowflake(request.match_info["channel_id"]))
        if channel is None or channel.deleted:
            raise unknown("Channel", 10003)
        return channel

    def _path_message(self, request: web.Request, channel: Channel) -> Message:
        message = self._messages.get(_snowflake(request.match_info["message_id"]))
        if message is None or message.deleted or message.channel_id != channel.id or message.ephemeral:
            raise unknown("Message", 10008)
        return message

    def _path_guild(self, request: web.Request) -> Guild:
        if _snowflake(request.match_info["guild_id"]) != self.guild.id:
            raise unknown("Guild", 10004)
        return self.guild

    def _path_application(self, request: web.Request) -> None:
        if _snowflake(request.match_info["application_id"]) != self.application_id:
            raise unknown("Application", 10002)

    def _path_user(self, request: web.Request) -> User:
        raw = request.match_info["user_id"]
        user = self.bot_user if raw == "@me" else self.users.get(_snowflake(raw))
        if user is None:
            raise unknown("User", 10013)
        return user

    def _path_interaction(self, request: web.Request) -> Interaction:
        """The interaction a webhook URL names; its id is the application's, its token the interaction's."""
        token = request.match_info["webhook_token"]
        if _snowflake(request.match_info["webhook_id"]) == self.application_id:
            for interaction in self.interactions:
                if interaction.token == token and interaction.acknowledged:
                    return interaction
        raise unknown("Webhook", 10015)

    # ------------------------------------------------------- REST: identity

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url.rstrip("/")})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    async def _get_me(self, request: web.Request) -> web.Response:
        return json_response({**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"})

    async def _get_user(self, request: web.Request) -> web.Response:
        return json_response(self._path_user(request).payload())

    async def _get_application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": self.owner.user.payload(),
                "team": None,
                "flags": self._application_flags(),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
                "approximate_guild_count": 1,
                "bot": self.bot_user.payload(),
            }
        )

    # ----------------------------------------------------- REST: commands

    def _command_scope(self, request: web.Request) -> tuple[int | None, list[dict[str, Any]]]:
        self._path_application(request)
        if "guild_id" not in request.match_info:
            return None, self.global_commands
        guild = self._path_guild(request)
        return guild.id, self.guild_commands.setdefault(guild.id, [])

    def _command(self, guild_id: int | None, body: dict[str, Any]) -> dict[str, Any]:
        """The command object Discord stores for a definition; ids stay stable across syncs."""
        kind = body.get("type") or CHAT_INPUT
        command_id = self._command_ids.setdefault((guild_id, body["name"], kind), self._ids.next())
        permissions = body.get("default_member_permissions")
        command: dict[str, Any] = {
            "id": str(command_id),
            "application_id": str(self.application_id),
            "version": str(self._ids.next()),
            "type": kind,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description") or "",
            "description_localizations": body.get("description_localizations"),
            "default_member_permissions": None if permissions is None else str(permissions),
            "dm_permission": body.get("dm_permission", True),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
            "nsfw": body.get("nsfw", False),
        }
        if body.get("options"):
            command["options"] = body["options"]
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        return command

    async def _list_commands(self, request: web.Request) -> web.Response:
        return json_response(self._command_scope(request)[1])

    async def _bulk_set_commands(self, request: web.Request) -> web.Response:
        guild_id, scope = self._command_scope(request)
        body = request[BODY] or []
        keys = [(item["name"], item.get("type") or CHAT_INPUT) for item in body]
        if len(set(keys)) != len(keys):
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", ["Application command names must be unique"])
        scope[:] = [self._command(guild_id, item) for item in body]
        self.command_syncs.append(CommandSync(guild_id, body, request[RECEIVED_AT]))
        return json_response(scope)

    async def _create_command(self, request: web.Request) -> web.Response:
        guild_id, scope = self._command_scope(request)
        command = self._command(guild_id, request[BODY])
        existing = [i for i, item in enumerate(scope) if item["id"] == command["id"]]
        for index in existing:
            scope[index] = command
        if not existing:
            scope.append(command)
        return json_response(command, 200 if existing else 201)

    # ------------------------------------------------------- REST: guild

    async def _get_guild(self, request: web.Request) -> web.Response:
        data = self._path_guild(request).base_payload()
        if request.query.get("with_counts") in ("1", "true"):
            data.update(approximate_member_count=len(self.guild.members), approximate_presence_count=0)
        return json_response(data)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self._path_guild(request)
        return json_response([c.payload() for c in guild.channels.values() if not c.is_thread and not c.deleted])

    async def _get_roles(self, request: web.Request) -> web.Response:
        return json_response([role.payload() for role in self._path_guild(request).roles.values()])

    async def _list_members(self, request: web.Request) -> web.Response:
        guild = self._path_guild(request)
        after = int(request.query.get("after", 0))
        limit = int(request.query.get("limit", 1))
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)[:limit]
        return json_response([member.payload() for member in members])

    async def _get_member(self, request: web.Request) -> web.Response:
        member = self._path_guild(request).members.get(_snowflake(request.match_info["user_id"]))
        if member is None:
            raise unknown("Member", 10007)
        return json_response(member.payload())

    async def _get_active_threads(self, request: web.Request) -> web.Response:
        guild = self._path_guild(request)
        threads = [c for c in guild.channels.values() if c.is_thread and not c.archived and not c.deleted]
        members = [t.thread_member_payload(self.bot_user.id) for t in threads if self.bot_user.id in t.member_ids]
        return json_response({"threads": [t.payload() for t in threads], "members": members})

    # ----------------------------------------------------- REST: channels

    async def _get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._path_channel(request).payload())

    async def _update_channel(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        body: dict[str, Any] = request[BODY]
        for key in ("name", "topic", "archived", "locked", "invitable", "auto_archive_duration", "rate_limit_per_user"):
            if body.get(key) is not None:
                setattr(channel, key, body[key])
        await self._broadcast("THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE", channel.payload())
        return json_response(channel.payload())

    async def _delete_channel(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        channel.deleted = True
        if channel.is_thread:
            event = {"id": str(channel.id), "guild_id": str(channel.guild_id), "parent_id": str(channel.parent_id),
                     "type": channel.type}
            await self._broadcast("THREAD_DELETE", event)
        else:
            await self._broadcast("CHANNEL_DELETE", channel.payload())
        return json_response(channel.payload())

    async def _typing(self, request: web.Request) -> web.Response:
        self.typing.append((self._path_channel(request).id, request[RECEIVED_AT]))
        return no_content()

    # ----------------------------------------------------- REST: messages

    async def _list_messages(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        found = [m for m in self.messages_in(channel) if not m.ephemeral]
        query = request.query
        if "before" in query:
            found = [m for m in found if m.id < int(query["before"])]
        if "after" in query:
            found = [m for m in found if m.id > int(query["after"])]
        limit = min(int(query.get("limit", 50)), 100)
        if "after" in query:
            found = found[:limit]
        else:
            found = found[-limit:]
        return json_response([self._message_payload(m) for m in reversed(found)])

    async def _get_message(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        return json_response(self._message_payload(self._path_message(request, channel)))

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        if channel.type == GUILD_CATEGORY:
            raise DiscordHTTPError(400, 50008, "Cannot send messages in a non-text channel")
        message = await self._post(channel, self.bot_user, request[BODY], request[UPLOADS])
        return json_response(self._message_payload(message))

    async def _update_message(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        message = self._path_message(request, channel)
        if message.author.id != self.bot_user.id or message.webhook_id is not None:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        await self._edit(message, request[BODY], request[UPLOADS], request[RECEIVED_AT])
        return json_response(self._message_payload(message))

    async def _delete_message(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        await self._delete(self._path_message(request, channel))
        return no_content()

    async def _react(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        message = self._path_message(request, channel)
        message.reactions.append((request.match_info["emoji"], self.bot_user.id))
        return no_content()

    async def _unreact(self, request: web.Request) -> web.Response:
        channel = self._path_channel(request)
        message = self._path_message(request, channel)
        reaction = (request.match_info["emoji"], self.bot_user.id)
        if reaction in message.reactions:
            message.reactions.remove(reaction)
        return no_content()

    # ------------------------------------------------------ REST: threads

    async def _create_thread(self, request: web.Request) -> web.Response:
        parent = self._path_channel(request)
        body: dict[str, Any] = request[BODY]
        if parent.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
            raise DiscordHTTPError(400, 50024, "Cannot execute action on this channel type")
        kind = body.get("type") or PRIVATE_THREAD
        thread = await self._open_thread(parent, self.bot_member, body, kind=kind, thread_id=self._ids.next())
        return json_response(thread.payload(), 201)

    async def _create_thread_from_message(self, request: web.Request) -> web.Response:
        parent = self._path_channel(request)
        message = self._path_message(request, parent)
        if message.thread_id is not None:
            raise DiscordHTTPError(400, 160004, "A thread has already been created for this message")
        kind = 10 if parent.type == GUILD_ANNOUNCEMENT else PUBLIC_THREAD
        thread = await self._open_thread(parent, self.bot_member, request[BODY], kind=kind, thread_id=message.id)
        message.thread_id = thread.id
        return json_response(thread.payload(), 201)

    async def _open_thread(
        self, parent: Channel, creator: Member, body: dict[str, Any], *, kind: int, thread_id: int
    ) -> Channel:
        thread = Channel(
            thread_id,
            kind,
            body["name"],
            self.guild.id,
            parent_id=parent.id,
            owner_id=creator.id,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
            invitable=body.get("invitable", True) is not False,
            rate_limit_per_user=body.get("rate_limit_per_user") or 0,
            member_ids={creator.id},
        )
        self._add_channel(thread)
        event = {**thread.payload(), "newly_created": True}
        if self.bot_user.id in thread.member_ids:
            event["member"] = thread.thread_member_payload(self.bot_user.id)
        await self._broadcast("THREAD_CREATE", event)
        return thread

    def _path_thread(self, request: web.Request) -> Channel:
        thread = self._path_channel(request)
        if not thread.is_thread:
            raise DiscordHTTPError(400, 50024, "Cannot execute action on this channel type")
        return thread

    async def _list_thread_members(self, request: web.Request) -> web.Response:
        thread = self._path_thread(request)
        return json_response([thread.thread_member_payload(user_id) for user_id in sorted(thread.member_ids)])

    async def _get_thread_member(self, request: web.Request) -> web.Response:
        thread = self._path_thread(request)
        user = self._path_user(request)
        if user.id not in thread.member_ids:
            raise unknown("Member", 10007)
        return json_response(thread.thread_member_payload(user.id))

    async def _add_thread_member(self, request: web.Request) -> web.Response:
        thread = self._path_thread(request)
        user = self._path_user(request)
        if user.id not in self.guild.members:
            raise unknown("Member", 10007)
        thread.member_ids.add(user.id)
        return no_content()

    async def _remove_thread_member(self, request: web.Request) -> web.Response:
        thread = self._path_thread(request)
        thread.member_ids.discard(self._path_user(request).id)
        return no_content()

    # ------------------------------------------------- REST: interactions

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction_id = _snowflake(request.match_info["interaction_id"])
        interaction = next((i for i in self.interactions if i.id == interaction_id), None)
        if interaction is None or interaction.token != request.match_info["interaction_token"]:
            raise unknown("interaction", 10062)
        body: dict[str, Any] = request[BODY]
        received = request[RECEIVED_AT]
        kind = body.get("type")
        try:
            message = await self._answer(interaction, kind, body.get("data") or {}, request[UPLOADS], received)
        except DiscordHTTPError as error:
            interaction.callbacks.append(Callback(kind, body, received, error.status))
            raise
        with_response = request.query.get("with_response") in ("1", "true", "True")
        interaction.callbacks.append(Callback(kind, body, received, 200 if with_response else 204))
        if not with_response:
            return no_content()
        answer: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        result: dict[str, Any] = {"interaction": answer}
        if message is not None:
            answer.update(
                response_message_id=str(message.id),
                response_message_loading=message.loading,
                response_message_ephemeral=message.ephemeral,
            )
            result["resource"] = {"type": kind, "message": self._message_payload(message)}
        elif kind is not None:
            result["resource"] = {"type": kind}
        return json_response(result)

    async def _answer(
        self, interaction: Interaction, kind: Any, data: dict[str, Any], uploads: dict[int, Upload], received: float
    ) -> Message | None:
        """Apply one callback; the message it created or changed, if any."""
        if interaction.acknowledged:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if self.ack_deadline is not None and received - interaction.dispatched_at > self.ack_deadline:
            raise unknown("interaction", 10062)
        if kind not in CALLBACKS_FOR[interaction.type]:
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", [f"callback type {kind} is not valid here"])
        channel = self._channel_of(interaction.channel_id)
        if kind == 4:
            message = await self._post(channel, self.bot_user, data, uploads, interaction=interaction)
        elif kind == 5:
            flags = LOADING | (data.get("flags") or 0) & EPHEMERAL
            message = await self._post(channel, self.bot_user, {}, {}, interaction=interaction, flags=flags)
        elif kind in (6, 7) and interaction.message_id is not None:
            message = self._messages[interaction.message_id]
            if kind == 7:
                await self._edit(message, data, uploads, received)
        else:
            if kind == 8:
                interaction.autocomplete_choices = data.get("choices") or []
            elif kind == 9:
                interaction.modal = data
            return None
        interaction.original_message_id = message.id
        return message

    async def _execute_webhook(self, request: web.Request) -> web.Response:
        """A followup; the first one after a "thinking" defer becomes the deferred message itself.

        That is how Discord does it: the placeholder is edited in place, keeps its
        ephemerality, and the followup's own flags are ignored.
        """
        interaction = self._path_interaction(request)
        original_id = interaction.original_message_id
        original = None if original_id is None else self._messages[original_id]
        if original is not None and original.loading and not original.deleted:
            message = original
            await self._edit(message, request[BODY], request[UPLOADS], request[RECEIVED_AT])
        else:
            channel = self._channel_of(interaction.channel_id)
            if "thread_id" in request.query:
                channel = self._channel_of(_snowflake(request.query["thread_id"]))
            message = await self._post(channel, self.bot_user, request[BODY], request[UPLOADS],
                                       interaction=interaction)
        interaction.followup_message_ids.append(message.id)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(self._message_payload(message))
        return no_content()

    def _webhook_message(self, request: web.Request) -> Message:
        interaction = self._path_interaction(request)
        raw = request.match_info.get("message_id", "@original")
        message_id = interaction.original_message_id if raw == "@original" else _snowflake(raw)
        owned = {interaction.original_message_id, *interaction.followup_message_ids}
        message = self._messages.get(message_id) if message_id is not None and message_id in owned else None
        if message is None or message.deleted:
            raise unknown("Message", 10008)
        return message

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        return json_response(self._message_payload(self._webhook_message(request)))

    async def _edit_webhook_message(self, request: web.Request) -> web.Response:
        message = self._webhook_message(request)
        await self._edit(message, request[BODY], request[UPLOADS], request[RECEIVED_AT])
        return json_response(self._message_payload(message))

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        await self._delete(self._webhook_message(request))
        return no_content()

    # ------------------------------------------------------ message logic

    def _store_upload(self, channel_id: int, upload: Upload, *, filename: str | None = None,
                      description: str | None = None) -> Attachment:
        """Keep an uploaded file and serve it from the emulator, as Discord's CDN would."""
        attachment_id = self._ids.next()
        name = filename or upload.filename
        guessed = mimetypes.guess_type(name)[0]
        declared = upload.content_type if upload.content_type != "application/octet-stream" else None
        attachment = Attachment(
            attachment_id,
            name,
            upload.data,
            declared or guessed or "application/octet-stream",
            f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{quote(name)}",
            description,
        )
        self.files[attachment_id] = attachment
        return attachment

    def _attachments(self, message: Message, body: dict[str, Any], uploads: dict[int, Upload]) -> list[Attachment]:
        """The attachments after a create or edit: ``attachments`` keeps old ones by id and names uploads by index."""
        listed = body.get("attachments")
        if listed is None:
            return [*message.attachments, *(self._store_upload(message.channel_id, u) for u in uploads.values())]
        current = {attachment.id: attachment for attachment in message.attachments}
        result: list[Attachment] = []
        for item in listed:
            key = int(item["id"])
            if key in current:
                result.append(current[key])
            elif key in uploads:
                result.append(self._store_upload(message.channel_id, uploads[key], filename=item.get("filename"),
                                                 description=item.get("description")))
        return result

    def _apply(self, message: Message, body: dict[str, Any], uploads: dict[int, Upload]) -> None:
        if "content" in body:
            message.content = body["content"] or ""
        if "embeds" in body:
            message.embeds = body["embeds"] or []
        if "components" in body:
            message.components = body["components"] or []
        if "allowed_mentions" in body:
            message.allowed_mentions = body["allowed_mentions"]
        if body.get("flags") is not None:
            message.flags = message.flags & ~SETTABLE_FLAGS | body["flags"] & SETTABLE_FLAGS
        message.attachments = self._attachments(message, body, uploads)
        replied = None
        if message.message_reference is not None:
            referenced = self._messages.get(int(message.message_reference["message_id"]))
            replied = None if referenced is None else referenced.author
        message.mentions, message.mention_role_ids, message.mention_everyone = resolve_mentions(
            self.guild, message.content, message.allowed_mentions, replied
        )

    async def _post(
        self,
        channel: Channel,
        author: User,
        body: dict[str, Any],
        uploads: dict[int, Upload],
        *,
        interaction: Interaction | None = None,
        flags: int = 0,
    ) -> Message:
        """Create a message from a bot request body, as Discord would, and dispatch it."""
        reference = body.get("message_reference")
        message = Message(self._ids.next(), channel.id, self.guild.id, author, body=body)
        if reference:
            referenced = self._messages.get(int(reference["message_id"]))
            if referenced is None or referenced.deleted:
                raise DiscordHTTPError(400, 50035, "Invalid Form Body", ["message_reference: Unknown message"])
            message.type = REPLY
            message.message_reference = {"type": 0, "message_id": str(referenced.id),
                                         "channel_id": str(referenced.channel_id), "guild_id": str(self.guild.id)}
        message.tts = bool(body.get("tts"))
        self._apply(message, body, uploads)
        if interaction is not None:
            message.webhook_id = self.application_id
            message.type = CHAT_INPUT_COMMAND if interaction.type == APPLICATION_COMMAND else DEFAULT_MESSAGE
            message.interaction_metadata = self._interaction_metadata(interaction)
            message.flags |= (body.get("flags") or 0) & EPHEMERAL
        message.flags |= flags
        empty = not (message.content or message.embeds or message.attachments or message.components
                     or body.get("sticker_ids") or body.get("poll"))
        if empty and not message.loading:
            raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
        self._messages[message.id] = message
        channel.last_message_id = message.id
        channel.message_count += 1
        if not message.ephemeral:
            await self._broadcast("MESSAGE_CREATE", self._message_payload(message, event=True))
        return message

    async def _edit(self, message: Message, body: dict[str, Any], uploads: dict[int, Upload], at: float) -> None:
        self._apply(message, body, uploads)
        message.flags &= ~LOADING
        message.edited_timestamp = utcnow()
        message.edits.append(MessageEdit(at, body, message.content))
        if not message.ephemeral:
            await self._broadcast("MESSAGE_UPDATE", self._message_payload(message, event=True))

    async def _delete(self, message: Message) -> None:
        message.deleted = True
        if not message.ephemeral:
            await self._broadcast(
                "MESSAGE_DELETE",
                {"id": str(message.id), "channel_id": str(message.channel_id), "guild_id": str(self.guild.id)},
            )

    def _message_payload(self, message: Message, *, event: bool = False) -> dict[str, Any]:
        """A message as REST returns it, or with ``guild_id`` and ``member`` as the gateway sends it."""
        data = message.payload()
        reference = message.message_reference
        if reference is not None and int(reference["message_id"]) in self._messages:
            data["referenced_message"] = self._messages[int(reference["message_id"])].payload()
        if event:
            data["guild_id"] = str(self.guild.id)
            member = self.guild.members.get(message.author.id)
            if member is not None and message.webhook_id is None:
                data["member"] = member.payload(with_user=False)
        return data

    def _interaction_metadata(self, interaction: Interaction) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": interaction.user.payload(),
            "authorizing_integration_owners": {"0": str(self.guild.id)},
        }
        if interaction.command is not None:
            data.update(name=interaction.command, command_type=CHAT_INPUT)
        if interaction.message_id is not None:
            data["interacted_message_id"] = str(interaction.message_id)
        return data

    # --------------------------------------------- simulating Discord users

    def add_member(
        self, username: str, *, roles: Iterable[Role] = (), manage_guild: bool = False, bot: bool = False
    ) -> Member:
        """A new guild member; ``manage_guild`` gives the Server Manager role (Manage Server, not admin).

        Announced with GUILD_MEMBER_ADD by ``announce_member`` if the bot is connected.
        """
        role_ids = [role.id for role in roles]
        if manage_guild and self.manager_role.id not in role_ids:
            role_ids.append(self.manager_role.id)
        return self._add_member(User(self._ids.next(), username, bot=bot), role_ids)

    async def announce_member(self, member: Member) -> None:
        await self._broadcast("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(self.guild.id)})

    def upload(self, filename: str, data: bytes, content_type: str | None = None) -> Upload:
        """A file for ``post_message(attachments=...)`` or an attachment option."""
        return Upload(filename, data, content_type)

    async def post_message(
        self,
        content: str = "",
        *,
        user: Member | User | None = None,
        channel: Channel | int | None = None,
        attachments: Iterable[Upload] = (),
        reply_to: Message | None = None,
    ) -> Message:
        """A user posts in a channel or thread; the bot gets MESSAGE_CREATE."""
        await self.wait_until_ready()
        member = self._member(user)
        target = self._channel_of(channel)
        message = Message(self._ids.next(), target.id, self.guild.id, member.user, content=content)
        message.attachments = [self._store_upload(target.id, upload) for upload in attachments]
        replied = None
        if reply_to is not None:
            message.type = REPLY
            message.message_reference = {"type": 0, "message_id": str(reply_to.id),
                                         "channel_id": str(reply_to.channel_id), "guild_id": str(self.guild.id)}
            replied = reply_to.author
        message.mentions, message.mention_role_ids, message.mention_everyone = resolve_mentions(
            self.guild, content, None, replied
        )
        self._messages[message.id] = message
        target.last_message_id = message.id
        target.message_count += 1
        if target.is_thread:
            target.member_ids.add(member.id)
        await self._broadcast("MESSAGE_CREATE", self._message_payload(message, event=True))
        return message

    async def start_thread(
        self,
        name: str,
        *,
        user: Member | User | None = None,
        channel: Channel | int | None = None,
        type: int = PUBLIC_THREAD,
    ) -> Channel:
        """A user opens a thread; the bot gets THREAD_CREATE."""
        await self.wait_until_ready()
        parent = self._channel_of(channel)
        return await self._open_thread(parent, self._member(user), {"name": name}, kind=type,
                                       thread_id=self._ids.next())

    async def send_slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: Member | User | None = None,
        channel: Channel | int | None = None,
    ) -> Interaction:
        """A user runs a synced slash command; the bot gets INTERACTION_CREATE.

        ``name`` may name a subcommand (``"config set"``). Option values are
        plain values, or ``Member``/``User``, ``Channel``, ``Role`` and ``Upload``
        objects for the option types that resolve them. Like the Discord
        client, this refuses commands that were not synced and options the
        command does not declare.
        """
        await self.wait_until_ready()
        member = self._member(user)
        top, *path = name.split()
        command = self._find_command(top)
        resolved: dict[str, dict[str, Any]] = {}
        definitions = command.get("options") or []
        nested: list[dict[str, Any]] = []
        holder = nested
        for part in path:
            definition = next(
                (d for d in definitions if d["name"] == part and d["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)), None
            )
            if definition is None:
                raise LookupError(f"/{top} has no subcommand {part}")
            entry: dict[str, Any] = {"name": part, "type": definition["type"], "options": []}
            holder.append(entry)
            holder, definitions = entry["options"], definition.get("options") or []
        channel_obj = self._channel_of(channel)
        holder.extend(self._options(definitions, options or {}, resolved, channel_obj.id))
        data: dict[str, Any] = {"id": command["id"], "name": top, "type": CHAT_INPUT}
        if nested:
            data["options"] = nested
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return await self._interact(APPLICATION_COMMAND, data, member, channel_obj, command=name)

    def _find_command(self, name: str) -> dict[str, Any]:
        for command in [*self.guild_commands.get(self.guild.id, []), *self.global_commands]:
            if command["name"] == name and command["type"] == CHAT_INPUT:
                return command
        raise LookupError(f"no slash command /{name} was synced; Discord only offers synced commands")

    def _options(
        self, definitions: list[dict[str, Any]], given: dict[str, Any], resolved: dict[str, dict[str, Any]],
        channel_id: int,
    ) -> list[dict[str, Any]]:
        known = {definition["name"]: definition for definition in definitions}
        if set(given) - set(known):
            raise LookupError(f"unknown options {sorted(set(given) - set(known))}; declared: {sorted(known)}")
        result = []
        for option_name, definition in known.items():
            if option_name not in given:
                if definition.get("required"):
                    raise ValueError(f"option {option_name} is required")
                continue
            value = self._option_value(definition["type"], given[option_name], resolved, channel_id)
            result.append({"name": option_name, "type": definition["type"], "value": value})
        return result

    def _option_value(self, kind: int, value: Any, resolved: dict[str, dict[str, Any]], channel_id: int) -> Any:
        """The wire value of one option, adding resolved objects the way Discord does."""
        if kind == STRING:
            return str(value)
        if kind == INTEGER:
            return int(value)
        if kind == BOOLEAN:
            return bool(value)
        if kind == NUMBER:
            return float(value)
        if kind == ATTACHMENT:
            attachment = self._store_upload(channel_id, value)
            resolved.setdefault("attachments", {})[str(attachment.id)] = {**attachment.payload(), "ephemeral": True}
            return str(attachment.id)
        if kind == CHANNEL:
            channel = self._channel_of(value)
            entry = {**channel.payload(), "permissions": str(self.permissions_of(self.bot_member))}
            resolved.setdefault("channels", {})[str(channel.id)] = entry
            return str(channel.id)
        if isinstance(value, Role) and kind in (ROLE, MENTIONABLE):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        if isinstance(value, (Member, User)) and kind in (USER, MENTIONABLE):
            member = self._member(value)
            resolved.setdefault("users", {})[str(member.id)] = member.user.payload()
            resolved.setdefault("members", {})[str(member.id)] = {
                **member.payload(with_user=False),
                "permissions": str(self.permissions_of(member)),
            }
            return str(member.id)
        raise TypeError(f"cannot pass {value!r} as an option of type {kind}")

    def _component(self, message: Message | int, custom_id: str) -> tuple[Message, dict[str, Any]]:
        target = message if isinstance(message, Message) else self._messages[message]
        for component in walk_components(target.components):
            if component.get("custom_id") == custom_id:
                if component.get("disabled"):
                    raise ValueError(f"component {custom_id} is disabled")
                return target, component
        raise LookupError(f"message {target.id} has no component {custom_id}; it has {target.custom_ids}")

    async def click_button(self, message: Message | int, custom_id: str, *, user: Member | User | None = None
                           ) -> Interaction:
        """A user clicks a button of a message; the bot gets INTERACTION_CREATE."""
        target, component = self._component(message, custom_id)
        if component["type"] != BUTTON:
            raise ValueError(f"component {custom_id} is not a button")
        data = {"custom_id": custom_id, "component_type": BUTTON}
        return await self._interact(MESSAGE_COMPONENT, data, self._member(user), self._channel_of(target.channel_id),
                                    message=target)

    async def select(self, message: Message | int, custom_id: str, values: list[str], *,
                     user: Member | User | None = None) -> Interaction:
        """A user picks ``values`` in a string select of a message."""
        target, component = self._component(message, custom_id)
        if component["type"] != STRING_SELECT:
            raise ValueError(f"component {custom_id} is not a string select")
        offered = {option["value"] for option in component.get("options", [])}
        if set(values) - offered:
            raise ValueError(f"values {sorted(set(values) - offered)} are not offered")
        data = {"custom_id": custom_id, "component_type": STRING_SELECT, "values": values}
        return await self._interact(MESSAGE_COMPONENT, data, self._member(user), self._channel_of(target.channel_id),
                                    message=target)

    async def submit_modal(self, interaction: Interaction, values: dict[str, str], *,
                           user: Member | User | None = None) -> Interaction:
        """A user fills in the modal the bot answered ``interaction`` with, and submits it."""
        modal = interaction.modal
        if modal is None:
            raise LookupError(f"interaction {interaction.id} was not answered with a modal")
        inputs = {c["custom_id"] for c in walk_components(modal.get("components") or []) if c["type"] == TEXT_INPUT}
        if set(values) - inputs:
            raise LookupError(f"the modal has no inputs {sorted(set(values) - inputs)}")
        submitted: list[dict[str, Any]] = []
        for top in modal.get("components") or []:
            if top["type"] == ACTION_ROW:
                row = [{"type": TEXT_INPUT, "custom_id": c["custom_id"], "value": values.get(c["custom_id"], "")}
                       for c in top["components"] if c["type"] == TEXT_INPUT]
                submitted.append({"type": ACTION_ROW, "components": row})
            elif top["type"] == LABEL and top["component"]["type"] == TEXT_INPUT:
                custom_id = top["component"]["custom_id"]
                submitted.append({"type": LABEL, "component": {"type": TEXT_INPUT, "custom_id": custom_id,
                                                               "value": values.get(custom_id, "")}})
        data = {"custom_id": modal["custom_id"], "components": submitted}
        message = None if interaction.message_id is None else self._messages[interaction.message_id]
        member = self._member(user or interaction.user)
        return await self._interact(MODAL_SUBMIT, data, member, self._channel_of(interaction.channel_id),
                                    message=message)

    async def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        member: Member,
        channel: Channel,
        *,
        message: Message | None = None,
        command: str | None = None,
    ) -> Interaction:
        """Dispatch INTERACTION_CREATE with the fields discord.py needs, and record it."""
        await self.wait_until_ready()
        interaction_id = self._ids.next()
        token = secrets.token_urlsafe(48)
        channel_payload = {**channel.payload(), "permissions": str(self.permissions_of(member))}
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(self.guild.id),
            "guild": {"id": str(self.guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel.id),
            "channel": channel_payload,
            "member": {**member.payload(), "permissions": str(self.permissions_of(member))},
            "token": token,
            "version": 1,
            "app_permissions": str(self.permissions_of(self.bot_member)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = self._message_payload(message)
        interaction = Interaction(
            interaction_id,
            token,
            kind,
            member.user,
            channel.id,
            payload,
            dispatched_at=time.monotonic(),
            command=command,
            custom_id=data.get("custom_id"),
            message_id=None if message is None else message.id,
        )
        self.interactions.append(interaction)
        await self._broadcast("INTERACTION_CREATE", payload)
        return interaction


def _snowflake(raw: str) -> int:
    """A snowflake from a URL; anything else is a 404 like Discord's."""
    if not raw.isdigit():
        raise DiscordHTTPError(404, 0, "404: Not Found")
    return int(raw)
