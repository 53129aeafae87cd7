"""``python -m bot chat``: run an agent from a terminal, without Discord.

Same executor, tools, store and budgets as the bot. The answer goes to
stdout; steps, errors and usage to stderr, so ``python -m bot chat "..." >
answer.txt`` keeps only the answer. PostRun artifacts are saved under
ARTIFACTS_DIR/<run id>/.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.http import http_client
from bot.messages.failures import describe_error
from bot.run_service import RunRequest
from bot.services import Services, build_services, store_of
from executor import ModelResolutionError, Result, RunnableAgent
from executor.llm.pricing import format_usd
from executor.tools import StepEvent

CONSOLE_USER = "console"
EXIT_WORDS = {"exit", "quit", ":q"}


def print_step(out: TextIO) -> Callable[[StepEvent], None]:
    def on_step(event: StepEvent) -> None:
        if event.kind == "model":
            print(f"· step {event.index + 1}/{event.max_steps}: thinking", file=out, flush=True)
        elif event.kind == "tool_start":
            print(f"  → {event.tool} {event.arguments[:120]}", file=out, flush=True)
        elif event.kind == "approval_wait":
            print(f"  ⏳ {event.tool} waits for approval", file=out, flush=True)
        elif event.kind == "approval_end":
            print(f"  {'✗ not approved' if event.is_error else '✓ approved'}: {event.tool}", file=out, flush=True)
        else:
            mark = "✗" if event.is_error else "✓"
            print(f"  {mark} {event.tool}: {' '.join(event.result.split())[:160]}", file=out, flush=True)

    return on_step


async def chat(settings: Settings, agent_id: str | None, tier: str | None, prompt: str | None) -> int:
    # A bot's resumable runs are left for it: the console cannot answer in Discord.
    async with http_client() as http, store_of(settings, "leave") as store:
        services = build_services(settings, http, store)
        async with services.mcp:
            return await _chat(services, agent_id, tier, prompt)


async def _chat(services: Services, agent_id: str | None, tier: str | None, prompt: str | None) -> int:
    settings = services.settings
    name = agent_id or settings.default_agent
    definition = services.agents.agents.get(name)
    if definition is None:
        known = ", ".join(services.agents.agents) or "none (check AGENTS_DIR)"
        print(f"error: no agent {name!r}; agents: {known}", file=sys.stderr)
        return 2
    agent = definition.runnable() if not tier else replace(definition.runnable(), tier=tier)
    try:
        services.models.resolve(services.executor.tier_of(agent))
    except ModelResolutionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    session = Session(services, agent, definition.session_tools, Path(settings.artifacts_dir))
    if prompt is not None:
        return 0 if (await session.ask(prompt)).ok else 1
    return await session.interactive()


class Session:
    """One console conversation: follow-ups see the earlier turns (kept in the store)."""

    def __init__(self, services: Services, agent: RunnableAgent, session_tools: tuple[str, ...], artifacts: Path) -> None:
        self.services = services
        self.agent = agent
        self.session_tools = session_tools
        self.artifacts = artifacts
        self.thread_id = f"console-{uuid.uuid4().hex[:12]}"

    async def ask(self, prompt: str) -> Result:
        request = RunRequest(
            agent=self.agent,
            caller_id=CONSOLE_USER,
            guild_id=CONSOLE_USER,
            thread_id=self.thread_id,
            prompt=prompt,
            session_tools=self.session_tools,
        )
        result = await self.services.runs.run(request, print_step(sys.stderr))
        if result.output:
            print(result.output, flush=True)
        if result.err is not None:
            print(describe_error(result.err, result.run_id), file=sys.stderr)
        self._save_artifacts(result)
        u = result.usage
        print(
            f"-- run {result.run_id} {result.status.value} · {result.runtime_seconds:.1f} s · "
            f"{u.input_tokens:,} in / {u.output_tokens:,} out tokens"
            + (f" ({u.reasoning_tokens:,} reasoning)" if u.reasoning_tokens else "")
            + f" · {format_usd(u.cost)}",
            file=sys.stderr,
        )
        for warning in await self.services.runs.budget_warnings(request):
            print(warning, file=sys.stderr)
        return result

    async def interactive(self) -> int:
        print(f"chatting with {self.agent.name or self.agent.id}; empty line or 'exit' to leave", file=sys.stderr)
        failed = False
        while True:
            print("you> ", end="", file=sys.stderr, flush=True)  # stdout carries answers only
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line.strip() or line.strip().lower() in EXIT_WORDS:
                break
            failed = not (await self.ask(line.strip())).ok
        return 1 if failed else 0

    def _save_artifacts(self, result: Result) -> None:
        if result.post_run_result is None or not result.post_run_result.artifacts:
            return
        folder = self.artifacts / result.run_id
        folder.mkdir(parents=True, exist_ok=True)
        for art in result.post_run_result.artifacts:
            (folder / Path(art.name).name).write_bytes(art.data)
        print(f"-- saved {len(result.post_run_result.artifacts)} file(s) to {folder}", file=sys.stderr)
