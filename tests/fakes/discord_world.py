"""The Discord emulator's state: one guild's world, the records of everything
the bot sent, and waiting on any of it to change. ``EmulatorWorld`` is the
first layer of ``DiscordEmulator`` (see ``discord_emulator``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from .discord_gateway import PRIVILEGED_INTENTS, Connection, GatewaySession
from .discord_model import (
    ADMINISTRATOR,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    GUILD_CATEGORY,
    GUILD_TEXT,
    MANAGE_GUILD,
    Attachment,
    Channel,
    Guild,
    Interaction,
    Member,
    Message,
    Role,
    Snowflakes,
    User,
)

T = TypeVar("T")
API_PREFIX = "/api/v10"


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
class Hold:
    """One answer held back by ``hold_response``: ``reached`` is set once the
    request is carried out; the answer leaves at ``release()``."""

    operation: str
    matches: Callable[[Any], bool]
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


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


class EmulatorWorld:
    """The state every part of the emulator shares. Built by ``DiscordEmulator``
    (see its docstring for the options)."""

    def __init__(
        self,
        *,
        token: str = "emulator-bot-token",
        reject_invalid: bool = True,
        ack_deadline: float | None = 3.0,
        heartbeat_interval_ms: int = 41250,
        privileged_intents: int = PRIVILEGED_INTENTS,
        check_schemas: bool = True,
        recommended_shards: int = 1,
    ) -> None:
        self.token = token
        #: What ``GET /gateway/bot`` recommends as the shard count.
        self.recommended_shards = recommended_shards
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
        #: Channels outside the guild the bot can reach: DMs, and channels of
        #: guilds the bot is not in where a user-installed command was used.
        self.outside_channels: dict[int, Channel] = {}

        self._ids = Snowflakes()
        self._messages: dict[int, Message] = {}
        self._command_ids: dict[tuple[int | None, str, int], int] = {}
        self._sessions: dict[str, GatewaySession] = {}
        self._session: GatewaySession | None = None
        #: Operation -> (429s still to answer, retry_after, scope); see ``rate_limit``.
        self._rate_limits: dict[str, tuple[int, float, str]] = {}
        #: Answers held back or to hold back (``hold_response``), oldest first.
        self._holds: list[Hold] = []
        #: The newest session of each shard (None: unsharded).
        self._newest: dict[tuple[int, int] | None, GatewaySession] = {}
        self._connections: set[Connection] = set()
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._build_world()

    # ------------------------------------------------------------------ world

    def _build_world(self) -> None:
        ids = self._ids
        bot = User(ids.next(), "executus", bot=True)
        owner = User(ids.next(), "owner", global_name="Guild Owner")
        self.application_id = bot.id
        self.guilds: dict[int, Guild] = {}
        self.guild = guild = self._new_guild("Executus Test Guild", owner.id, ids.next())
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

    def _new_guild(self, name: str, owner_id: int, guild_id: int) -> Guild:
        guild = self.guilds[guild_id] = Guild(guild_id, name, owner_id=owner_id)
        guild.roles[guild.id] = Role(guild.id, "@everyone", EVERYONE_PERMISSIONS, position=0)
        return guild

    def _add_role(self, role: Role, guild: Guild | None = None) -> Role:
        (guild or self.guild).roles[role.id] = role
        return role

    def _add_member(self, user: User, role_ids: list[int], guild: Guild | None = None) -> Member:
        self.users[user.id] = user
        member = (guild or self.guild).members[user.id] = Member(user, role_ids)
        return member

    def _add_channel(self, channel: Channel) -> Channel:
        self.guilds[channel.guild_id].channels[channel.id] = channel
        return channel

    def _guild_of(self, channel: Channel) -> Guild:
        return self.guilds[channel.guild_id]

    @property
    def bot_user(self) -> User:
        return self.bot_member.user

    def permissions_of(self, who: Member | User, guild: Guild | None = None) -> int:
        """``who``'s permissions in ``guild`` (default: the first guild)."""
        guild = guild or self.guild
        return guild.permissions_of(self._member(who, guild))

    def _member(self, who: Member | User | None, guild: Guild | None = None) -> Member:
        """``who`` (default: the ordinary member) as a member of ``guild`` (default: the first)."""
        guild = guild or self.guild
        member = guild.members.get(self.member.id if who is None else who.id)
        if member is None:
            raise LookupError(f"{who} is not a member of {guild.name}")
        return member

    def _find_channel(self, channel_id: int) -> Channel | None:
        for guild in self.guilds.values():
            if (found := guild.channels.get(channel_id)) is not None:
                return found
        return self.outside_channels.get(channel_id)

    def _channel_of(self, channel: Channel | int | None) -> Channel:
        if channel is None:
            return self.general
        channel_id = channel if isinstance(channel, int) else channel.id
        found = self._find_channel(channel_id)
        if found is None or found.deleted:
            raise LookupError(f"no channel {channel_id}")
        return found

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
        found = [c for guild in self.guilds.values() for c in guild.channels.values() if c.is_thread]
        return sorted(found, key=lambda channel: channel.id)

    def channel(self, name: str, guild: Guild | None = None) -> Channel:
        """The channel called ``name`` in ``guild`` (default: the first guild)."""
        return next(c for c in (guild or self.guild).channels.values() if c.name == name and not c.deleted)

    @property
    def sessions(self) -> list[GatewaySession]:
        """Every gateway session so far, oldest first: its ``shard`` and the
        events ``sent`` to it (what each shard of a bot was told)."""
        return list(self._sessions.values())

    def interaction(self, interaction_id: int) -> Interaction:
        return next(i for i in self.interactions if i.id == interaction_id)
