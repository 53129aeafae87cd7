"""Tool pinning: a tool is offered only while it is the tool an admin accepted.

A server can change a tool's description after it was first trusted, and a
description is text the model obeys: that is how tool poisoning works. So
the first definition seen of each allowed tool is pinned (its name,
description and input schema), and a later listing that differs holds the
tool back until an admin reviews the change and approves it. Both versions
are kept so the review can show what changed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from dataclasses import dataclass, replace
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """What a server says a tool is: the parts the model reads."""

    name: str
    description: str
    input_schema: dict[str, Any]

    def canonical(self) -> str:
        """Canonical JSON (sorted keys, no spaces): equal definitions, equal text."""
        return json.dumps(
            {"name": self.name, "description": self.description, "input_schema": self.input_schema},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> ToolDefinition:
        data = json.loads(text)
        return cls(data["name"], data["description"], data["input_schema"])


@dataclass(frozen=True, slots=True)
class Pin:
    """One server's tool as accepted (``pinned``) and, when the server now
    describes it differently, that newer definition awaiting review."""

    server: str
    pinned: ToolDefinition
    changed: ToolDefinition | None = None
    #: Who approved the pinned definition; empty when it was pinned on first sight.
    approved_by: str = ""

    @property
    def tool(self) -> str:
        return self.pinned.name


class PinStore(Protocol):
    """Where pins live (in memory, or the bot's SQLite database)."""

    async def get(self, server: str, tool: str) -> Pin | None:
        """The pin of ``server``'s ``tool``, or None before it was first seen."""

    async def pin(self, server: str, definition: ToolDefinition, approved_by: str = "") -> None:
        """Accept ``definition`` and drop any change awaiting review."""

    async def hold(self, server: str, definition: ToolDefinition) -> None:
        """Record ``definition`` as a change awaiting review; the pinned one stays."""

    async def held(self) -> list[Pin]:
        """Every pin with a change awaiting review, by server and tool."""


class MemoryPinStore:
    """Pins for one process; forgotten at exit (tests, the terminal console)."""

    def __init__(self) -> None:
        self._pins: dict[tuple[str, str], Pin] = {}

    async def get(self, server: str, tool: str) -> Pin | None:
        return self._pins.get((server, tool))

    async def pin(self, server: str, definition: ToolDefinition, approved_by: str = "") -> None:
        self._pins[(server, definition.name)] = Pin(server, definition, approved_by=approved_by)

    async def hold(self, server: str, definition: ToolDefinition) -> None:
        current = self._pins.get((server, definition.name))
        if current is not None:
            self._pins[(server, definition.name)] = replace(current, changed=definition)

    async def held(self) -> list[Pin]:
        return [pin for _, pin in sorted(self._pins.items()) if pin.changed is not None]


async def admit(store: PinStore, server: str, definition: ToolDefinition) -> bool:
    """Whether ``definition`` may be offered: pinned now if first seen, offered
    if it is the pinned one, held for review (and not offered) if it differs."""
    current = await store.get(server, definition.name)
    if current is None:
        await store.pin(server, definition)
        return True
    fingerprint = definition.fingerprint()
    if current.pinned.fingerprint() == fingerprint:
        if current.changed is not None:  # the server went back to what was accepted
            await store.pin(server, definition, current.approved_by)
        return True
    if current.changed is None or current.changed.fingerprint() != fingerprint:
        log.warning(
            "MCP server %r changed its tool %r; it is not offered until an admin approves the change",
            server,
            definition.name,
        )
        await store.hold(server, definition)
    return False


async def approve(store: PinStore, server: str, tool: str, fingerprint: str, by: str) -> bool:
    """Re-pin ``tool`` to the change awaiting review, if that change is still
    the one with ``fingerprint`` (the one the admin was shown); False otherwise."""
    current = await store.get(server, tool)
    if current is None or current.changed is None or current.changed.fingerprint() != fingerprint:
        return False
    await store.pin(server, current.changed, by)
    log.info("MCP tool %s__%s: change approved by %s", server, tool, by)
    return True


def diff(pin: Pin) -> str:
    """A unified diff from the pinned definition to the changed one (empty
    when nothing awaits review), over pretty-printed JSON so a changed word
    in a description or a new schema property each show on their own line."""
    if pin.changed is None:
        return ""
    before, after = (_pretty(d) for d in (pin.pinned, pin.changed))
    lines = difflib.unified_diff(before, after, f"{pin.server}__{pin.tool} (pinned)", f"{pin.server}__{pin.tool} (now)")
    return "".join(lines)


def _pretty(definition: ToolDefinition) -> list[str]:
    data = {
        "name": definition.name,
        "description": definition.description.splitlines() or [""],
        "input_schema": definition.input_schema,
    }
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").splitlines(keepends=True)
