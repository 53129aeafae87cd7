"""What admins read about MCP servers: /mcp list and /mcp review."""

from __future__ import annotations

from collections.abc import Sequence

from bot.mcp import Pin, ServerState, Status, diff
from bot.splitting import fit

STATUS_ICON = {
    Status.IDLE: "💤",
    Status.STARTING: "⏳",
    Status.RUNNING: "🟢",
    Status.FAILED: "🔴",
    Status.STOPPED: "⚫",
}
NO_SERVERS = "No MCP servers are configured (one TOML file per server in `MCP_DIR`; see the README)."
NOTHING_TO_REVIEW = "No MCP tool awaits review: every offered tool is the one that was approved."
APPROVE_CHANGE = "Approve"
#: Held tools shown by one /mcp review; the rest after those are approved.
REVIEW_SHOWN = 5
_DIFF_WIDTH = 1700


def servers_list(states: Sequence[ServerState]) -> str:
    if not states:
        return NO_SERVERS
    blocks = []
    for s in states:
        head = f"{STATUS_ICON[s.status]} **{s.id}** ({s.transport}) · {s.status}"
        if s.starts > 1:
            head += f" · restarted {s.starts - 1}×"
        lines = [head]
        if s.error:
            retry = f" (next try in {s.retry_in:.0f} s)" if s.status is Status.FAILED and s.retry_in else ""
            lines.append(f"  problem: {fit(s.error, 300)}{retry}")
        if s.tools:
            lines.append("  tools: " + ", ".join(f"`{t}`" for t in s.tools))
        elif s.status is Status.IDLE:
            lines.append("  starts when a run first needs it")
        if s.held:
            lines.append("  ✋ held for review (not offered): " + ", ".join(f"`{t}`" for t in s.held) + " — /mcp review")
        blocks.append("\n".join(lines))
    return fit("\n".join(blocks))


def review_header(held: int) -> str:
    more = f" (the first {REVIEW_SHOWN} are shown; run /mcp review again after)" if held > REVIEW_SHOWN else ""
    return f"{held} MCP tool(s) changed since they were approved and are not offered until approved{more}."


def review_of(pin: Pin) -> str:
    """One held tool: what changed, as a diff of the approved and the new definition."""
    changes = diff(pin).replace("```", "ʼʼʼ")
    return fit(
        f"✋ `{pin.server}__{pin.tool}` changed. Read the new description as the model would: "
        f"a changed description is how tool poisoning works.\n```diff\n{fit(changes, _DIFF_WIDTH)}\n```"
    )


def review_done(pin: Pin, approved: bool) -> str:
    if approved:
        return f"✅ `{pin.server}__{pin.tool}` approved: it is offered again from the next run."
    return f"⚠️ `{pin.server}__{pin.tool}` changed again since this review was shown; run /mcp review again."
