"""``/executus status``: the bot's state for the server's admins."""

from __future__ import annotations

from datetime import datetime

from bot.splitting import fit
from bot.status import BotStatus, ProviderStatus


def status_text(status: BotStatus) -> str:
    shards = ", ".join(
        f"{s.id} ({'connecting' if s.latency is None else f'{s.latency * 1000:.0f} ms'})" for s in status.shards
    )
    database = "✅ reachable" if status.database_ok else "❌ not answering (see the bot's log)"
    lines = [
        f"**executus {status.version}** · up {duration(status.uptime_seconds)}",
        f"Shards: {shards or 'none connected'} of {status.shard_count}",
        f"Runs: {status.runs_in_flight} in flight, {status.runs_queued} queued",
        f"Database ({status.database}): {database}",
        "Model providers:",
        *(f"- {provider_line(p)}" for p in status.providers),
    ]
    if not status.providers:
        lines.append("- none configured (set MODEL_TIERS)")
    return fit("\n".join(lines))


def provider_line(p: ProviderStatus) -> str:
    tiers = f" ({', '.join(p.tiers)})" if p.tiers else ""
    if p.key == "missing":
        return f"❌ **{p.name}**{tiers}: no API key; set {p.name.upper()}_API_KEY"
    calls = p.calls
    tally = f"{calls.ok} ok, {calls.failed} failed"
    ok_at, failed_at = calls.last_ok, calls.last_failure_at
    if failed_at is not None and (ok_at is None or failed_at > ok_at):
        return f"⚠️ **{p.name}**{tiers}: last call failed {when(failed_at)} ({calls.last_failure}); {tally}"
    if ok_at is not None:
        return f"✅ **{p.name}**{tiers}: last call ok {when(ok_at)}; {tally}"
    return f"⚪ **{p.name}**{tiers}: no call yet"


def when(moment: datetime) -> str:
    return f"<t:{int(moment.timestamp())}:R>"


def duration(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
