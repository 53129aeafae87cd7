"""``python -m bot``: run the Discord bot, or a sub-command.

    python -m bot                 run the bot (needs DISCORD_TOKEN)
    python -m bot chat [PROMPT]   talk to an agent in the terminal
    python -m bot migrate         apply database migrations and exit
    python -m bot prune           delete runs and conversations older than AUDIT_RETENTION_DAYS and exit
"""

from __future__ import annotations

import argparse
import sys

from bot import event_loop
from bot.config import ConfigError, Settings, load_settings
from bot.logs import configure
from bot.mcp import load_servers
from bot.store import StoreOpenError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bot",
        description="executus: a Discord bot that runs LLM agents with tools. Without a command it runs the bot.",
        epilog="Configuration comes from the environment and .env; see .env.example.",
    )
    sub = p.add_subparsers(dest="command")
    sub.add_parser("run", help="run the Discord bot (the default)")
    chat = sub.add_parser(
        "chat",
        help="talk to an agent in the terminal, without Discord",
        description=(
            "Run an agent through the same executor, tools, store and budgets as the bot. "
            "With PROMPT: run once, print the answer on stdout, exit 0 (1 if the run failed). "
            "Without: an interactive session that keeps the conversation (empty line or 'exit' leaves). "
            "Steps and usage print on stderr; files the agent makes are saved under ARTIFACTS_DIR/<run id>/."
        ),
    )
    chat.add_argument("prompt", nargs="?", help="run once with this prompt")
    chat.add_argument("--agent", help="agent id from AGENTS_DIR (default: DEFAULT_AGENT)")
    chat.add_argument("--tier", help="model tier from MODEL_TIERS, or provider/model (default: the agent's)")
    sub.add_parser("migrate", help="apply database migrations to DATABASE_URL and exit")
    sub.add_parser(
        "prune",
        help="delete runs and conversations older than AUDIT_RETENTION_DAYS and exit",
        description=(
            "Delete finished runs (with their steps, tool calls and events) that started more than "
            "AUDIT_RETENTION_DAYS days ago, the conversations of threads idle that long, and budget records "
            "(ledger rows, model call records, warnings) no budget period in force counts. "
            "Safe while the bot runs; the bot also does it hourly."
        ),
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings: Settings = load_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # MCP server files hold tokens too (env values, headers).
    secrets = settings.secrets() + load_servers(settings.mcp_dir).secrets()
    configure(settings.log_level if args.command != "chat" else "WARNING", secrets)
    try:
        return run(args, settings)
    except StoreOpenError as exc:  # an unusable DATABASE_URL: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "chat":
        from bot.console import chat

        return event_loop.run(chat(settings, args.agent, args.tier, args.prompt))
    if args.command == "migrate":
        from bot.store import migrate

        applied = event_loop.run(migrate(settings.database_url))
        print(f"applied migrations: {applied}" if applied else "database is up to date")
        return 0
    if args.command == "prune":
        return event_loop.run(prune(settings))
    from bot.discord_host.app import run_bot

    return event_loop.run(run_bot(settings))


async def prune(settings: Settings) -> int:
    days = settings.audit_retention_days
    if days == 0:
        print("AUDIT_RETENTION_DAYS is 0: everything is kept, nothing was pruned")
        return 0
    from bot.store import Store

    # An id of its own: the bot may be running on the database under EXECUTOR_ID.
    async with Store(settings.database_url) as store:
        pruned = await store.retention.prune(days)
    print(
        f"pruned {pruned.runs} runs, {pruned.threads} thread conversations, {pruned.ledger_rows} budget ledger"
        f" rows and {pruned.calls} model call records older than {days} days"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
