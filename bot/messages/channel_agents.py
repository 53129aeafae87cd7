"""What admins and members read about agents bound to channels (/agent bind,
/agent unbind, and the bindings /agents lists)."""

from __future__ import annotations

from collections.abc import Iterable


def bound(channel: str, agent_name: str, agent_id: str, replaced: str | None) -> str:
    was = f" (instead of `{replaced}`)" if replaced and replaced != agent_id else ""
    return (
        f"📌 In {channel}, its threads and forum posts, mentions and /ask without an agent now run "
        f"**{agent_name}** (`{agent_id}`){was}."
    )


def unbound(channel: str, agent_id: str) -> str:
    return f"📌 {channel} no longer has an agent of its own (it was `{agent_id}`); the default agent answers there."


def not_bound(channel: str) -> str:
    return f"{channel} has no agent bound to it; nothing changed."


def cannot_use(channel: str, missing: Iterable[str]) -> str:
    needs = ", ".join(f"**{p}**" for p in missing)
    return (
        f"I cannot see or answer in {channel} (missing: {needs}), so nothing was bound. "
        "Give the bot's role those permissions there, then bind again."
    )


def bindings_list(bindings: Iterable[tuple[str, str]]) -> str:
    """``(channel mention, agent id)`` of each binding of the server; empty text for none."""
    lines = [f"{channel} → `{agent}`" for channel, agent in bindings]
    return "**Agents bound to channels**\n" + "\n".join(lines) if lines else ""
