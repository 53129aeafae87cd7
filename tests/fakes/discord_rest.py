"""The Discord emulator's REST routes for the bot: identity, application
commands, the guild, channels, messages and threads."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .discord_codes import CHAT_INPUT
from .discord_http import BODY, RECEIVED_AT, UPLOADS, DiscordHTTPError, json_response, no_content, snowflake, unknown
from .discord_messages import MessageLogic
from .discord_model import (
    GUILD_ANNOUNCEMENT,
    GUILD_CATEGORY,
    GUILD_TEXT,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    Channel,
    Member,
)
from .discord_world import CommandSync


class RestRoutes(MessageLogic):
    """REST handlers; ``discord_emulator`` routes them."""

    # ------------------------------------------------------- REST: identity

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url.rstrip("/")})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url.rstrip("/"),
                "shards": self.recommended_shards,
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
        guild = self._path_guild(request)
        data = guild.base_payload()
        if request.query.get("with_counts") in ("1", "true"):
            data.update(approximate_member_count=len(guild.members), approximate_presence_count=0)
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
        member = self._path_guild(request).members.get(snowflake(request.match_info["user_id"]))
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
            parent.guild_id,
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
        if user.id not in self._guild_of(thread).members:
            raise unknown("Member", 10007)
        thread.member_ids.add(user.id)
        return no_content()

    async def _remove_thread_member(self, request: web.Request) -> web.Response:
        thread = self._path_thread(request)
        thread.member_ids.discard(self._path_user(request).id)
        return no_content()
