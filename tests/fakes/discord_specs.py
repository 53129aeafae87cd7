"""Request-body schemas of the Discord operations the emulator serves, and their check.

The emulator checks every JSON body the bot sends against Discord's own published
OpenAPI document, so a body Discord would refuse fails the tests instead of
production. The schemas live in ``tests/specs/discord_<operation_id>.json``, one
self-contained JSON Schema (draft 2020-12) per operation: the operation's
``application/json`` request schema with every component schema it references
copied into ``$defs``. Tests read only those files, never the OpenAPI document.

Regenerate them with::

    python -m tests.fakes.discord_specs PATH/TO/discord-openapi.json

Multipart requests are checked through their ``payload_json`` part, which is
the same JSON body Discord would take as ``application/json``.
"""

from __future__ import annotations

import copy
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SPEC_DIR = Path(__file__).resolve().parent.parent / "specs"
PREFIX = "#/components/schemas/"
DROPPED = {"description", "title", "example", "examples", "deprecated"}
SCHEMA_MAPS = {"properties", "patternProperties", "$defs"}

# operation id -> (method, path in the OpenAPI document); the emulator routes by these.
OPERATIONS: dict[str, tuple[str, str]] = {
    "bulk_set_application_commands": ("PUT", "/applications/{application_id}/commands"),
    "create_application_command": ("POST", "/applications/{application_id}/commands"),
    "bulk_set_guild_application_commands": ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands"),
    "create_guild_application_command": ("POST", "/applications/{application_id}/guilds/{guild_id}/commands"),
    "update_channel": ("PATCH", "/channels/{channel_id}"),
    "create_message": ("POST", "/channels/{channel_id}/messages"),
    "update_message": ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    "create_thread_from_message": ("POST", "/channels/{channel_id}/messages/{message_id}/threads"),
    "create_thread": ("POST", "/channels/{channel_id}/threads"),
    "create_interaction_response": ("POST", "/interactions/{interaction_id}/{interaction_token}/callback"),
    "execute_webhook": ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
    "update_original_webhook_message": ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
    "update_webhook_message": ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
}

# Operations whose body carries message content, where the rule below applies.
MESSAGE_BODIES = {
    "create_message",
    "update_message",
    "execute_webhook",
    "update_original_webhook_message",
    "update_webhook_message",
}
# The published schema allows 4000 characters of content on channel messages
# (the limit for users with a subscription); Discord refuses more than 2000 from a
# bot ("Must be 2000 or fewer in length."), so that is checked on top.
BOT_CONTENT_LIMIT = 2000


def _convert(node: Any, refs: set[str]) -> Any:
    """One schema node with references pointed into ``$defs``, collecting their names."""
    if isinstance(node, list):
        return [_convert(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in DROPPED or key.startswith("x-"):
            continue
        if key == "$ref":
            if not value.startswith(PREFIX):
                raise ValueError(f"unexpected reference {value}")
            name = value.removeprefix(PREFIX)
            refs.add(name)
            out[key] = f"#/$defs/{name}"
        elif key in SCHEMA_MAPS:
            out[key] = {name: _convert(sub, refs) for name, sub in value.items()}
        else:
            out[key] = _convert(value, refs)
    return out


def extract(spec: dict[str, Any], operation_id: str) -> dict[str, Any]:
    """The self-contained request-body schema of one operation of the OpenAPI document."""
    method, path = OPERATIONS[operation_id]
    operation = spec["paths"][path][method.lower()]
    if operation["operationId"] != operation_id:
        raise ValueError(f"{method} {path} is {operation['operationId']}, not {operation_id}")
    refs: set[str] = set()
    root = _convert(operation["requestBody"]["content"]["application/json"]["schema"], refs)
    defs: dict[str, Any] = {}
    pending = sorted(refs)
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        found: set[str] = set()
        defs[name] = _convert(spec["components"]["schemas"][name], found)
        pending.extend(sorted(found - defs.keys()))
    version = spec.get("info", {}).get("version", "unknown")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"Request body of {operation_id} ({method} {path}) and the schemas it references, copied "
            f"from Discord's OpenAPI document for API v{version} (MIT licensed, see "
            "discord-openapi.LICENSE next to this file). Regenerate with "
            "python -m tests.fakes.discord_specs."
        ),
        **root,
        "$defs": dict(sorted(defs.items())),
    }


@cache
def _validator(operation_id: str) -> Draft202012Validator:
    schema = json.loads((SPEC_DIR / f"discord_{operation_id}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _number_new_uploads(body: dict[str, Any], uploads: int) -> dict[str, Any]:
    """The body with attachment ids that name a new upload turned into strings.

    discord.py describes a file uploaded as ``files[n]`` with ``{"id": n}``, an
    integer, and Discord accepts it; the schema types every attachment id as a
    snowflake string. Only integer ids that are the index of a file actually
    uploaded in the same request are converted, so anything else stays checked.
    """
    body = copy.deepcopy(body)
    for holder in (body, body.get("data"), body.get("message")):
        if not isinstance(holder, dict) or not isinstance(holder.get("attachments"), list):
            continue
        for item in holder["attachments"]:
            if isinstance(item, dict) and type(item.get("id")) is int and 0 <= item["id"] < uploads:
                item["id"] = str(item["id"])
    return body


def _reach(error: ValidationError) -> int:
    """How deep into the body the deepest failure under ``error`` points."""
    return max([len(error.absolute_path), *(_reach(sub) for sub in error.context)])


def _wrong_branch(error: ValidationError) -> bool:
    """Whether ``error`` only says a union member has another ``type`` tag."""
    tag = error.absolute_path[-1] if error.absolute_path else None
    return tag == "type" and error.validator in ("enum", "const")


def _pinpoint(error: ValidationError) -> ValidationError:
    """The deepest failure of the union member that was meant, so the report names the field.

    A union failure lists the errors of every member; members whose ``type`` tag
    does not match are set aside unless no member matches.
    """
    while error.context and _reach(error) > len(error.absolute_path):
        members: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            members.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = [errs for errs in members.values() if not any(map(_wrong_branch, errs))] or list(members.values())
        error = max((sub for errs in meant for sub in errs), key=_reach)
    return error


def check_body(operation_id: str, body: Any, *, uploads: int = 0) -> list[str]:
    """Why Discord would refuse ``body`` for ``operation_id``; empty when it is acceptable.

    ``uploads`` is the number of ``files[n]`` parts sent with a multipart body.
    """
    if isinstance(body, dict):
        body = _number_new_uploads(body, uploads)
    problems: list[str] = []
    for error in _validator(operation_id).iter_errors(body):
        error = _pinpoint(error)
        where = "/".join(str(part) for part in error.absolute_path) or "<body>"
        problems.append(f"{where}: {error.message}")
    return problems + content_problems(operation_id, body)


def content_problems(operation_id: str, body: Any) -> list[str]:
    """Discord's 2000-character limit on a bot's message content: checked on
    its own too, since Discord enforces it whether or not schemas are checked."""
    if operation_id == "create_interaction_response" and isinstance(body, dict):
        body, where = body.get("data"), "data/content"
    elif operation_id in MESSAGE_BODIES:
        where = "content"
    else:
        return []
    content = body.get("content") if isinstance(body, dict) else None
    if isinstance(content, str) and len(content) > BOT_CONTENT_LIMIT:
        return [f"{where}: {len(content)} characters, Discord allows a bot {BOT_CONTENT_LIMIT}"]
    return []


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    for operation_id in OPERATIONS:
        out = SPEC_DIR / f"discord_{operation_id}.json"
        out.write_text(json.dumps(extract(spec, operation_id), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
