"""The Discord emulator's interactions, both ends: members run slash commands,
click buttons, pick select options and submit modals (INTERACTION_CREATE,
options resolved as Discord does), and the bot answers through the callback
and webhook routes, under Discord's rules (the 3 s deadline, one
acknowledgement, the first followup after a "thinking" defer replacing it)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from .discord_codes import (
    ACTION_ROW,
    APPLICATION_COMMAND,
    ATTACHMENT,
    BOOLEAN,
    BOT_DM_CONTEXT,
    BUTTON,
    CALLBACKS_FOR,
    CHANNEL,
    CHAT_INPUT,
    GUILD_CONTEXT,
    GUILD_INSTALL,
    INTEGER,
    LABEL,
    MENTIONABLE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    NUMBER,
    ROLE,
    STRING,
    STRING_SELECT,
    SUB_COMMAND,
    SUB_COMMAND_GROUP,
    TEXT_INPUT,
    USER,
    USER_INSTALL,
)
from .discord_http import BODY, RECEIVED_AT, UPLOADS, DiscordHTTPError, json_response, no_content, snowflake, unknown
from .discord_model import (
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    LOADING,
    Callback,
    Channel,
    Interaction,
    Member,
    Message,
    Role,
    Upload,
    User,
    walk_components,
)
from .discord_rest import RestRoutes


class Interactions(RestRoutes):
    """Interaction callbacks and webhooks (REST), and interactions members start."""

    # ------------------------------------------------- REST: interactions

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        interaction_id = snowflake(request.match_info["interaction_id"])
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
                channel = self._channel_of(snowflake(request.query["thread_id"]))
            message = await self._post(channel, self.bot_user, request[BODY], request[UPLOADS],
                                       interaction=interaction)
        interaction.followup_message_ids.append(message.id)
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(self._message_payload(message))
        return no_content()

    def _webhook_message(self, request: web.Request) -> Message:
        interaction = self._path_interaction(request)
        raw = request.match_info.get("message_id", "@original")
        message_id = interaction.original_message_id if raw == "@original" else snowflake(raw)
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

        In a channel outside the bot's guilds (``dm_channel``,
        ``outside_guild_channel``) the user runs the app as they installed it
        for themselves: the command must be global and allow user installs and
        that context.
        """
        await self.wait_until_ready()
        channel_obj = self._channel_of(channel)
        member = self._actor(user, channel_obj)
        top, *path = name.split()
        command = self._find_command(top, channel_obj)
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
        holder.extend(self._options(definitions, options or {}, resolved, channel_obj.id))
        data: dict[str, Any] = {"id": command["id"], "name": top, "type": CHAT_INPUT}
        if nested:
            data["options"] = nested
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return await self._interact(APPLICATION_COMMAND, data, member, channel_obj, command=name)

    def _find_command(self, name: str, channel: Channel) -> dict[str, Any]:
        if channel.guild_id in self.guilds:
            for command in [*self.guild_commands.get(channel.guild_id, []), *self.global_commands]:
                if command["name"] == name and command["type"] == CHAT_INPUT:
                    return command
            raise LookupError(f"no slash command /{name} was synced; Discord only offers synced commands")
        context = BOT_DM_CONTEXT if channel.guild_id is None else GUILD_CONTEXT
        for command in self.global_commands:
            if command["name"] == name and command["type"] == CHAT_INPUT:
                if USER_INSTALL not in (command.get("integration_types") or [GUILD_INSTALL]):
                    raise LookupError(f"/{name} is not offered to user installs (integration_types)")
                if context not in (command.get("contexts") or [GUILD_CONTEXT, BOT_DM_CONTEXT]):
                    raise LookupError(f"/{name} is not offered in context {context} (contexts)")
                return command
        raise LookupError(f"no global slash command /{name}; outside its guilds Discord offers only global ones")

    def _actor(self, user: Member | User | None, channel: Channel) -> Member:
        """Who acts in ``channel``: a member of its guild; elsewhere (a DM, a
        guild the bot is not in) the user, with no roles there."""
        if channel.guild_id in self.guilds:
            return self._member(user, self._guild_of(channel))
        if user is None:
            raise ValueError("name the user acting outside the bot's guilds")
        return Member(user if isinstance(user, User) else user.user, [])

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
        guild = self._guild_of(self._channel_of(channel_id))
        if kind == CHANNEL:
            channel = self._channel_of(value)
            entry = {**channel.payload(), "permissions": str(self.permissions_of(self.bot_member, guild))}
            resolved.setdefault("channels", {})[str(channel.id)] = entry
            return str(channel.id)
        if isinstance(value, Role) and kind in (ROLE, MENTIONABLE):
            resolved.setdefault("roles", {})[str(value.id)] = value.payload()
            return str(value.id)
        if isinstance(value, (Member, User)) and kind in (USER, MENTIONABLE):
            member = self._member(value, guild)
            resolved.setdefault("users", {})[str(member.id)] = member.user.payload()
            resolved.setdefault("members", {})[str(member.id)] = {
                **member.payload(with_user=False),
                "permissions": str(self.permissions_of(member, guild)),
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
        channel = self._channel_of(target.channel_id)
        return await self._interact(MESSAGE_COMPONENT, data, self._actor(user, channel), channel, message=target)

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
        if channel.guild_id in self.guilds:
            payload = self._guild_payload(interaction_id, token, kind, data, member, channel)
        else:
            payload = self._outside_payload(interaction_id, token, kind, data, member, channel)
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

    def _guild_payload(
        self, interaction_id: int, token: str, kind: int, data: dict[str, Any], member: Member, channel: Channel
    ) -> dict[str, Any]:
        """An interaction in one of the bot's guilds, where the bot is installed."""
        guild = self._guild_of(channel)
        member = self._member(member, guild)
        permissions = str(self.permissions_of(member, guild))
        channel_payload = {**channel.payload(), "permissions": permissions}
        return {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel.id),
            "channel": channel_payload,
            "member": {**member.payload(), "permissions": permissions},
            "token": token,
            "version": 1,
            "app_permissions": str(self.permissions_of(self.bot_member, guild)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    def _outside_payload(
        self, interaction_id: int, token: str, kind: int, data: dict[str, Any], member: Member, channel: Channel
    ) -> dict[str, Any]:
        """An interaction through the user's own install of the app: in their DM
        with the bot (no guild, ``user`` instead of ``member``), or in a guild
        the bot is not in."""
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            "token": token,
            "version": 1,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {str(USER_INSTALL): str(member.id)},
            "context": BOT_DM_CONTEXT if channel.guild_id is None else GUILD_CONTEXT,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if channel.guild_id is None:
            payload["user"] = member.user.payload()
        else:
            payload.update(
                guild_id=str(channel.guild_id),
                guild={"id": str(channel.guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member={**member.payload(), "permissions": str(EVERYONE_PERMISSIONS)},
            )
        return payload
