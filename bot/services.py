"""The services that need no Discord, built once around an open store.

``build_services`` wires models, tools, agents, the executor and the run
service. The Discord bot (``bot/discord_host/app.py``) and the terminal
console (``python -m bot chat``) both start from it, so both run agents
through the same executor, tools, store and budgets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bot.agents import LoadedAgents, load_agents
from bot.approvals import Approvals
from bot.config import SEARCH_SETTINGS, Settings
from bot.mcp import McpManager, load_servers
from bot.memory_tools import memory_tools
from bot.budget_notices import BudgetNotices
from bot.run_service import RunService
from bot.store import Store, Takeover
from bot.supervisor import Supervisor
from executor import NO_TRACING, Config, Executor, Ports, SummaryCompactor, Tracer
from executor.llm import ModelRegistry
from executor.tools import Registry, Visibility
from executor.tools.builtin import WEB_SEARCH, builtin_tools

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    store: Store
    models: ModelRegistry
    agents: LoadedAgents
    executor: Executor
    runs: RunService
    #: The MCP servers; whoever built the services closes it (it stops them).
    mcp: McpManager
    approvals: Approvals


def store_of(
    settings: Settings, takeover: Takeover | None = None, on_commit: Callable[[float], None] | None = None
) -> Store:
    """The store the settings name, not yet open. A bot (``takeover`` None)
    resumes the durable runs of processes that are gone, or interrupts them
    when RUNS_DURABLE is off; the console passes ``leave``. ``on_commit``:
    see Store."""
    return Store(
        settings.database_url,
        executor_id=settings.executor_id,
        durable_runs=settings.runs_durable,
        takeover=takeover or ("resume" if settings.runs_durable else "interrupt"),
        lease_seconds=settings.lease_seconds,
        shards=settings.shards(),
        on_commit=on_commit,
        personal_limits=settings.personal_limits(),
    )


def build_services(
    settings: Settings, http: httpx.AsyncClient, store: Store, tracer: Tracer = NO_TRACING
) -> Services:
    """Wire models, tools, agents and the executor around an open store.
    ``tracer`` sees every run, model call and tool call (the bot's RunObserver).

    Problems in agent files are logged, one line each; the good agents load.
    Agents naming web_search while no search backend is set load without it,
    with one warning. MCP servers are read from MCP_DIR (problems logged the
    same way) and start when a run first needs them: close ``Services.mcp``
    to stop them.
    """
    models = settings.model_registry(http)
    search = settings.search_backend()
    registry = Registry([*builtin_tools(search=search), *memory_tools(store.memory)])
    servers = load_servers(settings.mcp_dir)
    for problem in servers.problems:
        log.warning("MCP server files: %s", problem)
    agents = load_agents(
        settings.agents_dir,
        set(registry.names(Visibility.PRIVATE)),
        skills_dir=settings.skills_dir,
        tiers=set(settings.model_tiers),
        mcp_servers=set(servers.servers),
    )
    for problem in agents.problems:
        log.warning("agent files: %s", problem)
    if search is not None:
        log.info("web_search uses %s", search.name)
    elif without := agents.unavailable_tools.get(WEB_SEARCH):
        settings_list = ", ".join(SEARCH_SETTINGS)
        log.warning("web_search is not offered (set one of %s); %s run without it", settings_list, ", ".join(without))
    log.info("loaded agents: %s", ", ".join(agents.agents) or "none")
    if servers.servers:
        log.info("MCP servers: %s", ", ".join(sorted(servers.servers)))
    mcp = McpManager(servers.servers, store.mcp_pins)
    approvals = Approvals()

    # No Delivery port: the Discord host answers in the thread it holds, and
    # the console prints; both get the Result back from the run service.
    executor = Executor(
        Config(
            registry=registry,
            models=models,
            ports=Ports(
                budget=store.budget,
                audit=store.audit,
                palette=agents,
                escalator=Supervisor(),
                tools=mcp,
                approver=approvals,
                tracer=tracer,
                calls=store.calls,
            ),
            compactor=SummaryCompactor(),
            context_tokens=models.context_tokens,
            system_header=settings.system_header,
            tariffs=settings.tariffs(models),
        )
    )
    notices = BudgetNotices(store.budget, settings.budget_warn_percent)
    runs = RunService(executor, store.conversations, models.context_tokens, notices)
    return Services(settings, store, models, agents, executor, runs, mcp, approvals)
