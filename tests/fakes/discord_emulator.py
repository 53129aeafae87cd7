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
channels ``general`` and ``random``. ``add_member(name, manage_guild=...,
roles=...)`` adds people, ``await add_role(name)`` roles; ``add_channel(name,
type=, hidden_from_bot=)`` adds a channel (a forum too, whose posts are
threads made with ``start_thread``) before the bot connects;
``permissions_of(who)`` is what interactions carry as
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
and RESUME replaying missed events.

Sharding, as Discord does it: ``GET /gateway/bot`` recommends
``recommended_shards``; IDENTIFY's ``shard`` (``[shard_id, shard_count]``,
refused with 4010 when invalid) makes a session receive only its guilds,
those with ``(guild_id >> 22) % shard_count == shard_id`` (READY's list,
GUILD_CREATE and every guild event), and DMs on shard 0 only.
``add_guild(name, shard=(id, count))`` adds a guild on a chosen shard
(before the bot connects); every helper above acts in the guild of the
channel it is given.

DMs and user installs: ``post_direct_message(content, user=)`` (or
``post_message`` in ``dm_channel(user)``) DMs the bot, which answers in that
channel; ``add_user(name)`` is someone in none of the bot's guilds;
``send_slash_command(..., channel=dm_channel(user))`` or
``channel=outside_guild_channel()`` runs the user's own install of the app
in their DM with the bot or in a guild the bot is not in: only global
commands whose ``integration_types`` and ``contexts`` allow it.

Rate limits only on demand: ``rate_limit(operation, times=)`` answers the
next requests of an operation with Discord's 429. Slow answers on demand:
``hold_response(operation, matches)`` carries out the next matching request
but holds its answer until ``release()``, so a test can act (click a button
the bot just posted) before the bot has heard back.

Not emulated: rate limits of their own, permission checks on REST calls (a
channel's overwrites are sent to the bot, not enforced), group DMs, forum
tags and the REST route that makes a forum post,
webhooks other than interaction ones, voice.

``DiscordEmulator`` is built in layers, one module each, every one using only
those before it: ``discord_world`` (the guild, the records of what the bot
sent, waiting), ``discord_http`` (middleware, schema checks with
``discord_specs``, path lookups), ``discord_gateway_server`` (the websocket;
wire details in ``discord_gateway``), ``discord_messages`` (creating, editing and
dispatching messages), ``discord_rest`` (the bot's REST routes) and
``discord_interactions`` (both ends of interactions). This module routes
them, runs the server and acts as the guild's members.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterable, Iterator

from aiohttp import web

from .discord_codes import REPLY
from .discord_http import Route
from .discord_interactions import Interactions
from .discord_model import (
    DM,
    GUILD_TEXT,
    PUBLIC_THREAD,
    VIEW_CHANNEL,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    Upload,
    User,
    resolve_mentions,
)
from .discord_world import API_PREFIX


class DiscordEmulator(Interactions):
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

    # ------------------------------------------------------------ lifecycle

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
        Answers still held back (``hold_response``) leave first.
        """
        for hold in self._holds:
            hold.release()
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

    # ---------------------------------------------------------------- routing

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
        self._routes = {}
        for method, path, handler, operation, authenticated in table:
            route = app.router.add_route(method, API_PREFIX + path, handler)
            self._routes[route] = Route(operation, authenticated)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._download)
        app.router.add_get("/", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._unknown_route)

    # ------------------------------------------------------- more guilds

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> Guild:
        """Another guild the bot is in, before the bot connects: the same
        owner, admin, ordinary member and bot, with the same kinds of roles,
        and a ``general`` text channel (``emu.channel("general", guild)``).
        ``shard`` ``(shard_id, shard_count)`` picks an id that Discord routes
        to that shard. Every guild's events go to the shards that own it."""
        guild_id = self._ids.next() if shard is None else self._ids.next_on_shard(*shard)
        guild = self._new_guild(name, self.owner.id, guild_id)
        for member in self.guild.members.values():
            self._add_member(member.user, [], guild)
        for role in (self.bot_role, self.manager_role, self.admin_role):
            copy = self._add_role(Role(self._ids.next(), role.name, role.permissions, role.position, role.bot_id), guild)
            for member in self.guild.members.values():
                if role.id in member.role_ids:
                    guild.members[member.id].role_ids.append(copy.id)
        self._add_channel(Channel(self._ids.next(), GUILD_TEXT, "general", guild.id))
        return guild

    def add_channel(self, name: str, *, type: int = GUILD_TEXT, hidden_from_bot: bool = False) -> Channel:
        """Another channel of the main guild, before the bot connects (a
        ``GUILD_FORUM`` too: its threads are its posts). ``hidden_from_bot``
        denies the bot View Channel there with a member overwrite, which the
        bot sees in the channel's ``permission_overwrites`` as on Discord."""
        channel = Channel(self._ids.next(), type, name, self.guild.id, position=len(self.guild.channels))
        if hidden_from_bot:
            overwrite = {"id": str(self.bot_user.id), "type": 1, "allow": "0", "deny": str(VIEW_CHANNEL)}
            channel.permission_overwrites.append(overwrite)
        return self._add_channel(channel)

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

    async def add_role(self, name: str, permissions: int = 0) -> Role:
        """A new guild role, above the others; announced with GUILD_ROLE_CREATE
        when the bot is connected (``add_member(roles=[role])`` gives it)."""
        position = max(r.position for r in self.guild.roles.values()) + 1
        role = self._add_role(Role(self._ids.next(), name, permissions, position=position))
        if self._ready.is_set():
            await self._broadcast("GUILD_ROLE_CREATE", {"guild_id": str(self.guild.id), "role": role.payload()})
        return role

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
        target = self._channel_of(channel)
        guild = self.guilds.get(target.guild_id) if target.guild_id is not None else None
        member = self._actor(user, target)
        message = Message(self._ids.next(), target.id, target.guild_id, member.user, content=content)
        message.attachments = [self._store_upload(target.id, upload) for upload in attachments]
        replied = None
        if reply_to is not None:
            message.type = REPLY
            message.message_reference = {"type": 0, "message_id": str(reply_to.id),
                                         "channel_id": str(reply_to.channel_id), "guild_id": str(target.guild_id)}
            replied = reply_to.author
        message.mentions, message.mention_role_ids, message.mention_everyone = resolve_mentions(
            guild or self.guild, content, None, replied
        )
        self._messages[message.id] = message
        target.last_message_id = message.id
        target.message_count += 1
        if target.is_thread:
            target.member_ids.add(member.id)
        await self._broadcast("MESSAGE_CREATE", self._message_payload(message, event=True))
        return message

    async def delete_message(self, message: Message) -> None:
        """Someone with Manage Messages (or its author) deletes a message:
        later REST calls on it get Unknown Message, the bot gets MESSAGE_DELETE."""
        await self._delete(message)

    async def post_direct_message(self, content: str, *, user: Member | User | None = None) -> Message:
        """A user DMs the bot: MESSAGE_CREATE without a guild, which Discord
        sends to shard 0 only, and only to a session with the DIRECT_MESSAGES
        intent. The bot answers in the DM channel (``dm_channel(user)``)."""
        who = user if user is not None else self.member
        return await self.post_message(content, user=who, channel=self.dm_channel(who))

    def add_user(self, username: str) -> User:
        """A Discord user in none of the bot's guilds (they may still DM the
        bot, or use it through their own install of the app)."""
        user = User(self._ids.next(), username)
        self.users[user.id] = user
        return user

    def dm_channel(self, user: Member | User) -> Channel:
        """The DM channel between ``user`` and the bot (made on first use)."""
        who = user if isinstance(user, User) else user.user
        for channel in self.outside_channels.values():
            if channel.type == DM and channel.recipient is not None and channel.recipient.id == who.id:
                return channel
        channel = Channel(self._ids.next(), DM, "", None, recipient=who)
        self.outside_channels[channel.id] = channel
        return channel

    def outside_guild_channel(self, name: str = "elsewhere") -> Channel:
        """A text channel of a guild the bot is not in (where only a user's own
        install of the app reaches)."""
        channel = Channel(self._ids.next(), GUILD_TEXT, name, self._ids.next())
        self.outside_channels[channel.id] = channel
        return channel

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
