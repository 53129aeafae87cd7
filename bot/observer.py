"""RunObserver: the one place a run's metrics and spans come from.

It is the executor's Tracer (``Ports.tracer``): the executor opens a span
around each run (the budget gate included), each model call and each tool
call, and the observer counts what each span reports into :class:`Metrics`
while handing the span on to an inner Tracer (OpenTelemetry's when
OTEL_EXPORTER_OTLP_ENDPOINT is set, else none). Metrics and traces thus see
the same runs, calls and outcomes, and the run path holds no metrics code.
It also keeps how each model provider's calls went since start, which
``/executus status`` shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.mcp import ALL_TOOLS
from bot.mcp.tools import tool_name
from bot.metrics import Metrics
from bot.services import Services
from bot.store import Recovery, StoredStatus
from executor import NO_TRACING, REJECTED, ModelCallSpan, RunSpan, ToolCallSpan, Tracer
from executor.llm import ModelSpec, Usage
from executor.llm.pricing import Price, PriceTable, cost
from executor.tools import Visibility
from executor.tools.builtin import WORKSPACE_TOOL_NAMES

Clock = Callable[[], float]


@dataclass(slots=True)
class ProviderCalls:
    """How a model provider's calls have gone since start (``/executus status``)."""

    ok: int = 0
    failed: int = 0
    last_ok: datetime | None = None
    #: The last failure's error class (never its message: it can quote an address).
    last_failure: str = ""
    last_failure_at: datetime | None = None

    def succeeded(self) -> None:
        self.ok += 1
        self.last_ok = datetime.now(UTC)

    def failed_with(self, error: BaseException) -> None:
        self.failed += 1
        self.last_failure = type(error).__name__
        self.last_failure_at = datetime.now(UTC)


class RunObserver:
    """Counts runs, model calls and tool calls into ``metrics`` and forwards
    every span to ``inner``. ``prices`` costs each model call (None: every
    call is counted unpriced). Never raises into the run path."""

    def __init__(
        self, metrics: Metrics, prices: PriceTable | None = None, inner: Tracer = NO_TRACING, clock: Clock = time.monotonic
    ) -> None:
        self.metrics = metrics
        self._prices = prices
        self._inner = inner
        self._clock = clock
        #: Prices found, by (provider, model): genai-prices is looked up once a model.
        self._known: dict[tuple[str, str], Price | None] = {}
        #: Each provider's calls so far, by provider name.
        self.providers: dict[str, ProviderCalls] = {}

    def recovered(self, recovery: Recovery) -> None:
        """Count the runs start-up recovery marked ``interrupted`` (a process
        died under them): they end here, with no known duration."""
        for agent in recovery.interrupted_agents:
            self.metrics.run_finished(agent, StoredStatus.INTERRUPTED, None)

    @contextmanager
    def invoke_agent(
        self, *, agent_id: str, agent_name: str, run_id: str, provider: str, model: str
    ) -> Iterator[RunSpan]:
        started = self._clock()
        with self._inner.invoke_agent(
            agent_id=agent_id, agent_name=agent_name, run_id=run_id, provider=provider, model=model
        ) as inner:
            yield _ObservedRun(inner, self.metrics, self._clock, agent_id, started)

    @contextmanager
    def chat(self, *, provider: str, model: str) -> Iterator[ModelCallSpan]:
        calls = self.providers.setdefault(provider, ProviderCalls())
        with self._inner.chat(provider=provider, model=model) as inner:
            try:
                yield _ObservedCall(inner, self.metrics, model, self._price(provider, model), calls)
            except Exception as exc:  # not CancelledError: a stopped run is not the provider's failure
                calls.failed_with(exc)
                raise

    @contextmanager
    def execute_tool(self, *, tool: str, call_id: str) -> Iterator[ToolCallSpan]:
        with self._inner.execute_tool(tool=tool, call_id=call_id) as inner:
            yield _ObservedTool(inner, self.metrics, tool)

    def _price(self, provider: str, model: str) -> Price | None:
        if self._prices is None or not provider:
            return None
        key = (provider, model)
        if key not in self._known:
            self._known[key] = self._prices.price(ModelSpec(provider, model))
        return self._known[key]


@dataclass(frozen=True, slots=True)
class _ObservedRun:
    inner: RunSpan
    metrics: Metrics
    clock: Clock
    agent: str
    started: float

    def finish(self, status: str, usage: Usage) -> None:
        self.inner.finish(status, usage)
        # A refused run never ran: its wall time would only be the budget check's.
        seconds = None if status == REJECTED else self.clock() - self.started
        self.metrics.run_finished(self.agent, status, seconds)


@dataclass(frozen=True, slots=True)
class _ObservedCall:
    inner: ModelCallSpan
    metrics: Metrics
    model: str
    price: Price | None
    calls: ProviderCalls

    def record(self, usage: Usage) -> None:
        self.inner.record(usage)
        self.calls.succeeded()
        self.metrics.model_call(self.model, usage, None if self.price is None else cost(usage, self.price))


@dataclass(frozen=True, slots=True)
class _ObservedTool:
    inner: ToolCallSpan
    metrics: Metrics
    tool: str

    def record(self, ok: bool) -> None:
        self.inner.record(ok)
        self.metrics.tool_call(self.tool, ok)


def declare_names(metrics: Metrics, services: Services) -> None:
    """The names metric labels may carry: the loaded agents and skills, the
    tiers' models and the tools a run can be offered (registry and workspace
    tools, and the MCP tools agents and skills name one by one). Delegation
    tools (``agent__x``) count as ``other`` (the sub-run they start is
    counted under its own agent), and so do the MCP tools an agent allows
    with ``"*"``, whose names are known only once their server has started."""
    registry = services.executor.config.registry
    allowed = [d.mcp for d in services.agents.agents.values()] + [d.mcp for d in services.agents.skills.values()]
    mcp = [tool_name(server, tool) for a in allowed for server, tools in a.items() for tool in tools if tool != ALL_TOOLS]
    metrics.declare(
        agents=[*services.agents.agents, *services.agents.skills],
        models=[spec.model for spec in services.settings.model_tiers.values()],
        tools=[*registry.names(Visibility.PRIVATE), *WORKSPACE_TOOL_NAMES, *mcp],
    )
