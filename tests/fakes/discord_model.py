"""The world the Discord emulator serves: one guild with its users, roles, channels and messages.

Kept apart from the HTTP and gateway plumbing so the payload shapes discord.py
parses live in one place, and so tests inspect plain records (``Message``,
``Channel``, ``Interaction``) rather than JSON.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
# Every bit Discord defines today; what an administrator or the owner holds.
ALL_PERMISSIONS = 8866461766385663
EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS

# Channel types.
GUILD_TEXT = 0
DM = 1
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
GUILD_FORUM = 15
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = {ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD}

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class Snowflakes:
    """Increasing snowflake ids stamped with the current time.

    discord.py derives ``created_at`` from ids, so they must look like Discord's.
    """

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        stamped = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(stamped, self._last + 1)
        return self._last

    def next_on_shard(self, shard_id: int, shard_count: int) -> int:
        """The next id that Discord's ``(id >> 22) % shard_count`` routes to ``shard_id``."""
        found = self.next()
        while (found >> 22) % shard_count != shard_id:
            found += 1 << 22
        self._last = found
        return found


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    bot_id: int | None = None
    mentionable: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.bot_id is not None,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Member:
    user: User
    role_ids: list[int]
    joined_at: datetime = field(default_factory=utcnow)
    nick: str | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def mention(self) -> str:
        return self.user.mention

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(role_id) for role_id in self.role_ids],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


@dataclass
class Channel:
    """A guild channel or thread; threads carry the extra fields below ``parent_id``."""

    id: int
    type: int
    name: str
    #: None for a DM channel.
    guild_id: int | None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    owner_id: int | None = None
    auto_archive_duration: int = 1440
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    rate_limit_per_user: int = 0
    member_ids: set[int] = field(default_factory=set)
    message_count: int = 0
    last_message_id: int | None = None
    created_at: datetime = field(default_factory=utcnow)
    deleted: bool = False
    #: Discord's overwrite objects (id, type 0 role / 1 member, allow, deny), as sent.
    permission_overwrites: list[dict[str, Any]] = field(default_factory=list)
    #: The other user of a DM channel.
    recipient: User | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    def payload(self) -> dict[str, Any]:
        if self.type == DM:
            return {
                "id": str(self.id),
                "type": DM,
                "flags": 0,
                "last_message_id": None if self.last_message_id is None else str(self.last_message_id),
                "recipients": [] if self.recipient is None else [self.recipient.payload()],
            }
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "flags": 0,
            "last_message_id": None if self.last_message_id is None else str(self.last_message_id),
            "rate_limit_per_user": self.rate_limit_per_user,
        }
        if self.is_thread:
            metadata: dict[str, Any] = {
                "archived": self.archived,
                "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": iso(self.created_at),
                "locked": self.locked,
                "create_timestamp": iso(self.created_at),
            }
            if self.type == PRIVATE_THREAD:
                metadata["invitable"] = self.invitable
            data.update(
                parent_id=str(self.parent_id),
                owner_id=str(self.owner_id),
                message_count=self.message_count,
                total_message_sent=self.message_count,
                member_count=min(len(self.member_ids), 50),
                thread_metadata=metadata,
                applied_tags=[],
            )
        else:
            data.update(
                position=self.position,
                permission_overwrites=self.permission_overwrites,
                parent_id=None if self.parent_id is None else str(self.parent_id),
                nsfw=False,
            )
            if self.type != GUILD_CATEGORY:
                data.update(topic=self.topic, default_auto_archive_duration=1440)
        return data

    def thread_member_payload(self, user_id: int) -> dict[str, Any]:
        return {"id": str(self.id), "user_id": str(user_id), "join_timestamp": iso(self.created_at), "flags": 0}


@dataclass(frozen=True)
class Upload:
    """A file a simulated user attaches to a message or passes as a command option."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class Attachment:
    """A stored file; ``url`` is served by the emulator, so ``discord.Attachment.read()`` works."""

    id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    description: str | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass
class MessageEdit:
    """One change to a message: the body as the bot sent it and when it arrived."""

    at: float
    body: dict[str, Any]
    content: str


@dataclass
class Message:
    """A message as stored by the emulator; ``body`` and ``edits`` keep what the bot sent."""

    id: int
    channel_id: int
    #: None in a DM.
    guild_id: int | None
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    tts: bool = False
    type: int = 0
    allowed_mentions: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    webhook_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    timestamp: datetime = field(default_factory=utcnow)
    edited_timestamp: datetime | None = None
    created_at: float = field(default_factory=time.monotonic)
    edits: list[MessageEdit] = field(default_factory=list)
    deleted: bool = False
    mentions: list[User] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    reactions: list[tuple[str, int]] = field(default_factory=list)
    thread_id: int | None = None

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Whether this is still the "thinking…" placeholder of a deferred interaction."""
        return bool(self.flags & LOADING)

    @property
    def custom_ids(self) -> list[str]:
        return [item["custom_id"] for item in walk_components(self.components) if "custom_id" in item]

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "content": self.content,
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "attachments": [attachment.payload() for attachment in self.attachments],
            "embeds": self.embeds,
            "mentions": [user.payload() for user in self.mentions],
            "mention_roles": [str(role_id) for role_id in self.mention_role_ids],
            "mention_everyone": self.mention_everyone,
            "pinned": False,
            "tts": self.tts,
            "timestamp": iso(self.timestamp),
            "edited_timestamp": iso(self.edited_timestamp),
            "flags": self.flags,
            "components": self.components,
        }
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
        if self.body is not None and self.body.get("nonce") is not None:
            data["nonce"] = self.body["nonce"]
        return data


@dataclass
class Callback:
    """One interaction callback the bot posted, with Discord's answer status."""

    type: int | None
    body: dict[str, Any]
    received_at: float
    status: int


@dataclass
class Interaction:
    """An interaction the emulator dispatched and everything the bot answered to it.

    ``dispatched_at`` and each callback's ``received_at`` come from
    ``time.monotonic()``, so ``ack_latency`` is the time the bot took to acknowledge.
    """

    id: int
    token: str
    type: int
    user: User
    channel_id: int
    payload: dict[str, Any]
    dispatched_at: float
    command: str | None = None
    custom_id: str | None = None
    message_id: int | None = None
    callbacks: list[Callback] = field(default_factory=list)
    original_message_id: int | None = None
    followup_message_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    autocomplete_choices: list[dict[str, Any]] | None = None

    @property
    def acknowledgement(self) -> Callback | None:
        return next((callback for callback in self.callbacks if callback.status < 300), None)

    @property
    def acknowledged(self) -> bool:
        return self.acknowledgement is not None

    @property
    def ack_latency(self) -> float | None:
        ack = self.acknowledgement
        return None if ack is None else ack.received_at - self.dispatched_at


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def permissions_of(self, member: Member) -> int:
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        value = self.everyone.permissions
        for role_id in member.role_ids:
            value |= self.roles[role_id].permissions
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def base_payload(self) -> dict[str, Any]:
        """The guild object of ``GET /guilds/{id}``."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": [role.payload() for role in sorted(self.roles.values(), key=lambda role: role.position)],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def create_payload(self, *, member_ids: set[int] | None = None) -> dict[str, Any]:
        """The guild of a ``GUILD_CREATE`` event, limited to ``member_ids`` when given."""
        members = [m for m in self.members.values() if member_ids is None or m.id in member_ids]
        channels = [c for c in self.channels.values() if not c.deleted]
        data = self.base_payload()
        data.update(
            joined_at=iso(utcnow()),
            large=False,
            unavailable=False,
            member_count=len(self.members),
            members=[member.payload() for member in members],
            channels=[c.payload() for c in channels if not c.is_thread],
            threads=[c.payload() for c in channels if c.is_thread and not c.archived],
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
        )
        return data


def walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every component of a message, rows and containers included, depth first."""
    found: list[dict[str, Any]] = []
    for item in components:
        found.append(item)
        found.extend(walk_components(item.get("components") or []))
        for key in ("accessory", "component"):
            if isinstance(item.get(key), dict):
                found.extend(walk_components([item[key]]))
    return found


def resolve_mentions(
    guild: Guild, content: str, allowed: dict[str, Any] | None, replied_to: User | None
) -> tuple[list[User], list[int], bool]:
    """Users, roles and @everyone that ``content`` really pings under ``allowed_mentions``.

    Follows Discord's rules: without ``allowed_mentions`` everything parses; with
    it, only the listed kinds and ids ping, and a reply pings its author only
    with ``replied_user``. The author's MENTION_EVERYONE permission is not
    considered, so a test sees any attempt to ping everyone.
    """
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    user_ids = {int(value) for value in allowed.get("users") or []} if allowed else set()
    role_ids = {int(value) for value in allowed.get("roles") or []} if allowed else set()
    users: list[User] = []
    for match in USER_MENTION.finditer(content):
        member = guild.members.get(int(match.group(1)))
        if member and ("users" in parse or member.id in user_ids) and member.user not in users:
            users.append(member.user)
    if replied_to is not None and (allowed is None or allowed.get("replied_user")) and replied_to not in users:
        users.append(replied_to)
    roles = [
        int(match.group(1))
        for match in ROLE_MENTION.finditer(content)
        if int(match.group(1)) in guild.roles and ("roles" in parse or int(match.group(1)) in role_ids)
    ]
    everyone = "everyone" in parse and EVERYONE_MENTION.search(content) is not None
    return users, list(dict.fromkeys(roles)), everyone
