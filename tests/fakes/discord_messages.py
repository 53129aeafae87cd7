"""The Discord emulator's messages: created, edited and deleted as Discord
does (references, mentions that really ping, attachments kept and served as
its CDN would, empty messages refused) and dispatched over the gateway."""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import quote

from .discord_codes import APPLICATION_COMMAND, CHAT_INPUT, CHAT_INPUT_COMMAND, DEFAULT_MESSAGE, REPLY
from .discord_gateway_server import GatewayServer
from .discord_http import DiscordHTTPError
from .discord_model import (
    EPHEMERAL,
    LOADING,
    SETTABLE_FLAGS,
    Attachment,
    Channel,
    Interaction,
    Message,
    MessageEdit,
    Upload,
    User,
    resolve_mentions,
    utcnow,
)


class MessageLogic(GatewayServer):
    """What every path that makes or changes a message goes through."""

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
            # In a DM (or a guild the bot is not in) mentions resolve against the first guild's users.
            self.guilds.get(message.guild_id or 0, self.guild), message.content, message.allowed_mentions, replied
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
        message = Message(self._ids.next(), channel.id, channel.guild_id, author, body=body)
        if reference:
            referenced = self._messages.get(int(reference["message_id"]))
            if referenced is None or referenced.deleted:
                raise DiscordHTTPError(400, 50035, "Invalid Form Body", ["message_reference: Unknown message"])
            message.type = REPLY
            message.message_reference = {"type": 0, "message_id": str(referenced.id),
                                         "channel_id": str(referenced.channel_id), "guild_id": str(channel.guild_id)}
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
            deleted = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id is not None:
                deleted["guild_id"] = str(message.guild_id)
            await self._broadcast("MESSAGE_DELETE", deleted)

    def _message_payload(self, message: Message, *, event: bool = False) -> dict[str, Any]:
        """A message as REST returns it, or with ``guild_id`` and ``member`` as the gateway sends it."""
        data = message.payload()
        reference = message.message_reference
        if reference is not None and int(reference["message_id"]) in self._messages:
            data["referenced_message"] = self._messages[int(reference["message_id"])].payload()
        if event and message.guild_id is not None:  # a DM's events carry no guild
            data["guild_id"] = str(message.guild_id)
            guild = self.guilds.get(message.guild_id)
            member = None if guild is None else guild.members.get(message.author.id)
            if member is not None and message.webhook_id is None:
                data["member"] = member.payload(with_user=False)
        return data

    def _interaction_metadata(self, interaction: Interaction) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": interaction.user.payload(),
            "authorizing_integration_owners": interaction.payload["authorizing_integration_owners"],
        }
        if interaction.command is not None:
            data.update(name=interaction.command, command_type=CHAT_INPUT)
        if interaction.message_id is not None:
            data["interacted_message_id"] = str(interaction.message_id)
        return data
