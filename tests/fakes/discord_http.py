"""The Discord emulator's HTTP plumbing: errors shaped like Discord's, the
middleware that records every request, checks its token and its body against
the OpenAPI schemas, and the lookups REST handlers share (a path's channel,
message, guild, user or interaction, or Discord's 404)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from .discord_model import Channel, Guild, Interaction, Message, Upload, User
from .discord_specs import check_body, content_problems
from .discord_world import EmulatorWorld, Hold, RequestRecord, Violation

JSON_HEADERS = {"Content-Type": "application/json"}
# What the middleware read from a request, for the handlers.
BODY: web.RequestKey[Any] = web.RequestKey("body", object)
UPLOADS: web.RequestKey[dict[int, Upload]] = web.RequestKey("uploads", dict)
RECEIVED_AT = web.RequestKey("received_at", float)


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
class Route:
    """How the middleware treats a route: the OpenAPI operation its bodies are
    checked against (None: not checked), and whether it needs the bot token."""

    operation: str | None
    authenticated: bool


class HTTPPlumbing(EmulatorWorld):
    """Middleware, body parsing, schema checks and path lookups."""

    #: Filled by DiscordEmulator as it adds its routes.
    _routes: dict[web.AbstractRoute, Route]

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
            limited = self._rate_limited(route.operation)
            response = limited if limited is not None else await handler(request)
        except DiscordHTTPError as error:
            response = error.response()
        record.status = response.status
        self._notify()
        await self._held(record)
        return response

    def hold_response(self, operation: str, matches: Callable[[Any], bool] = lambda _body: True) -> Hold:
        """Hold back the answer to the next request of ``operation`` whose
        body ``matches``: the request is carried out (a message is created
        and dispatched), but the bot gets its answer only at ``release()``.
        That opens, on purpose, the window a slow Discord opens by chance:
        what the bot does before it has heard back."""
        hold = Hold(operation, matches)
        self._holds.append(hold)
        return hold

    async def _held(self, record: RequestRecord) -> None:
        for hold in self._holds:
            if not hold.reached.is_set() and hold.operation == record.operation and hold.matches(record.body):
                hold.reached.set()
                await hold.released.wait()
                return

    def rate_limit(self, operation: str, *, times: int = 1, retry_after: float = 0.2, scope: str = "shared") -> None:
        """Answer the next ``times`` requests of ``operation`` (an OpenAPI
        operation id such as ``create_message``) with Discord's 429: the
        ``retry_after`` body, ``Retry-After`` and ``X-RateLimit-*`` headers,
        ``scope`` as Discord or a proxy in front of it sets it. The request
        is not carried out; a client that waits and retries gets through."""
        self._rate_limits[operation] = (times, retry_after, scope)

    def _rate_limited(self, operation: str | None) -> web.Response | None:
        times, retry_after, scope = self._rate_limits.get(operation or "", (0, 0.0, ""))
        if times <= 0:
            return None
        self._rate_limits[operation or ""] = (times - 1, retry_after, scope)
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        headers = {
            **JSON_HEADERS,
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Bucket": f"emulated-{operation}",
            "X-RateLimit-Scope": scope,
            # Discord's edge adds it; discord.py takes a 429 without it for a
            # Cloudflare ban, and fails the request instead of retrying.
            "Via": "1.1 google",
        }
        return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)

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
        channel = self._find_channel(snowflake(request.match_info["channel_id"]))
        if channel is None or channel.deleted:
            raise unknown("Channel", 10003)
        return channel

    def _path_message(self, request: web.Request, channel: Channel) -> Message:
        message = self._messages.get(snowflake(request.match_info["message_id"]))
        if message is None or message.deleted or message.channel_id != channel.id or message.ephemeral:
            raise unknown("Message", 10008)
        return message

    def _path_guild(self, request: web.Request) -> Guild:
        guild = self.guilds.get(snowflake(request.match_info["guild_id"]))
        if guild is None:
            raise unknown("Guild", 10004)
        return guild

    def _path_application(self, request: web.Request) -> None:
        if snowflake(request.match_info["application_id"]) != self.application_id:
            raise unknown("Application", 10002)

    def _path_user(self, request: web.Request) -> User:
        raw = request.match_info["user_id"]
        user = self.bot_user if raw == "@me" else self.users.get(snowflake(raw))
        if user is None:
            raise unknown("User", 10013)
        return user

    def _path_interaction(self, request: web.Request) -> Interaction:
        """The interaction a webhook URL names; its id is the application's, its token the interaction's."""
        token = request.match_info["webhook_token"]
        if snowflake(request.match_info["webhook_id"]) == self.application_id:
            for interaction in self.interactions:
                if interaction.token == token and interaction.acknowledged:
                    return interaction
        raise unknown("Webhook", 10015)


def snowflake(raw: str) -> int:
    """A snowflake from a URL; anything else is a 404 like Discord's."""
    if not raw.isdigit():
        raise DiscordHTTPError(404, 0, "404: Not Found")
    return int(raw)
