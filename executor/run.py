"""Executor, Config, Defaults, Result, RunnableAgent: the run contract.

A port of the Go executor's ``Run``: budget gate -> resolve model -> audit
start + run state -> steer mailbox -> toolbox -> delegation tools -> extra
tools -> session tools -> runtime bound + cancellation -> critic -> loop ->
PostRun -> audit close -> budget commit -> delivery -> session Cleanup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from executor.compact import CompactionEvent, Compactor, MeteredModel
from executor.critic import Critic
from executor.delegation import add_delegation_tools
from executor.errors import (
    BudgetExceeded,
    CriticKilled,
    ExecutorError,
    ModelResolutionError,
    RunCancelled,
    RunTimeout,
)
from executor.llm.model import Model, ModelResponse
from executor.llm.types import Message, ToolCall, Usage, estimate_tokens
from executor.loop import AgentLoop, LoopLimits, SteerMailbox
from executor.ports import Ports, RunInfo, RunRecorder, RunStats, Spend, Target
from executor.state import RunState
from executor.tasks import caller_cancelled, settle, stop
from executor.tools.base import ToolResult, Visibility
from executor.tools.invocation import (
    Invocation,
    PostRunResult,
    SessionTools,
    Step,
    StepEvent,
)
from executor.tools.registry import Registry

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Bound on each post-run step (PostRun, audit close, budget commit, Cleanup),
#: on the cleanup a cancelled caller waits for, and on a cancelled loop that
#: will not stop, so shutdown cannot hang on any of them.
CLEANUP_TIMEOUT = 10.0
#: Delivery may upload files; it gets longer, and is still bounded.
DELIVERY_TIMEOUT = 60.0

ModelResolver = Callable[[str], Model | None]
"""Resolves a tier alias (``fast``) or a ``provider/model`` spec to a Model.
Raises ModelResolutionError (or any error) when it cannot; returning None is
reported as a clean error too."""


class RunStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    KILLED = "killed"


@dataclass(frozen=True, slots=True)
class Defaults:
    """Fallback caps and loop guards, applied when an agent leaves a field zero."""

    max_iterations: int = 12
    max_runtime: float = 60.0
    fallback_tier: str = "fast"
    max_consecutive_tool_errors: int = 3
    max_same_tool_call_repeats: int = 3
    compaction_threshold_ratio: float = 0.7
    critic_soft_timeout: float = 90.0
    max_delegation_depth: int = 3

    def with_fallbacks(self) -> Defaults:
        """Non-positive fields take the Go fallbacks (``withFallbacks``)."""
        base = Defaults()
        return replace(
            self,
            max_iterations=self.max_iterations if self.max_iterations > 0 else base.max_iterations,
            max_runtime=self.max_runtime if self.max_runtime > 0 else base.max_runtime,
            fallback_tier=self.fallback_tier or base.fallback_tier,
            max_consecutive_tool_errors=self.max_consecutive_tool_errors
            if self.max_consecutive_tool_errors > 0
            else base.max_consecutive_tool_errors,
            max_same_tool_call_repeats=self.max_same_tool_call_repeats
            if self.max_same_tool_call_repeats > 0
            else base.max_same_tool_call_repeats,
            compaction_threshold_ratio=self.compaction_threshold_ratio
            if self.compaction_threshold_ratio > 0
            else base.compaction_threshold_ratio,
            critic_soft_timeout=self.critic_soft_timeout if self.critic_soft_timeout > 0 else base.critic_soft_timeout,
            max_delegation_depth=self.max_delegation_depth
            if self.max_delegation_depth > 0
            else base.max_delegation_depth,
        )


@dataclass(frozen=True, slots=True)
class RunnableAgent:
    """An agent as the executor runs it. Zero values fall back to Defaults.

    Skills are agents too: ``prompt_template`` (``str.format`` fields) and
    ``inputs_schema`` (JSON schema of the typed inputs) make the
    ``skill__NAME`` tool's parameters and the sub-run's input.
    """

    id: str
    name: str = ""
    description: str = ""
    system_prompt: str = ""
    tier: str = ""
    tools: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    max_iterations: int = 0
    max_runtime: float = 0.0
    critic: bool = False
    visibility: Visibility = Visibility.PUBLIC
    inputs_schema: dict[str, Any] | None = None
    prompt_template: str = ""


@dataclass(slots=True)
class Result:
    """One run's outcome. ``err`` carries the failure; the other fields are
    filled best-effort even then (partial output, steps, usage)."""

    run_id: str
    status: RunStatus = RunStatus.OK
    output: str = ""
    steps: list[Step] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    err: BaseException | None = None
    post_run_result: PostRunResult | None = None
    ceiling_hit: bool = False
    transcript: list[Message] = field(default_factory=list)
    runtime_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.err is None


@dataclass(slots=True)
class Config:
    """Wires an Executor. ``registry`` and ``models`` are required; everything
    else is optional and None-safe: beyond those two, the default Config runs
    a bounded in-memory run with no audit, budget, critic, delegation or
    compaction."""

    registry: Registry
    models: ModelResolver
    defaults: Defaults = field(default_factory=Defaults)
    ports: Ports = field(default_factory=Ports)
    compactor: Compactor | None = None
    context_tokens: Callable[[str], int] | None = None
    system_header: str = ""


class Executor:
    """Runs RunnableAgents with the wired Ports. Safe for concurrent runs."""

    def __init__(self, config: Config) -> None:
        if config.registry is None or config.models is None:
            raise TypeError("Executor: Config.registry and Config.models are required")
        config.defaults = config.defaults.with_fallbacks()
        self.config = config

    async def run(self, agent: RunnableAgent, invocation: Invocation, user_input: str) -> Result:
        """Run ``agent`` and return its Result.

        Never raises for a failure inside the run: it is in ``Result.err`` with
        the status that tells it apart. Audit close and budget commit happen
        exactly once on every path. The one exception: when the caller's own
        task is cancelled, the run is recorded as ``cancelled`` (under
        ``asyncio.shield``, bounded by CLEANUP_TIMEOUT) and CancelledError is
        re-raised. A CancelledError that a tool, provider or port raises by
        itself is not the caller's: it is that tool's error result, or the
        run's error. ``invocation`` is not changed (the run works on a copy).

        A loop guard (repeated calls, consecutive tool errors) ends the run as
        ``error`` with LoopGuardTripped, which the audit records, but only
        after one last tool-less model turn: ``output`` holds that answer.
        """
        run = _Run(self, agent, invocation, user_input)
        return await run.execute()

    def tier_of(self, agent: RunnableAgent) -> str:
        """The tier a run of ``agent`` resolves: its own, else the fallback."""
        return agent.tier or self.config.defaults.fallback_tier

    def system_prompt(self, agent: RunnableAgent) -> str:
        header = self.config.system_header
        if not header:
            return agent.system_prompt
        if not agent.system_prompt:
            return header
        return f"{header}\n\n{agent.system_prompt}"

    def compaction_threshold(self, tier: str) -> int:
        """ratio x the tier's context window, or 0 (disabled) when unknown."""
        if self.config.compactor is None or self.config.context_tokens is None:
            return 0
        window = self.config.context_tokens(tier)
        return int(window * self.config.defaults.compaction_threshold_ratio) if window > 0 else 0


class _Run:
    """One run's state and the executor's hooks into its loop."""

    def __init__(self, executor: Executor, agent: RunnableAgent, invocation: Invocation, user_input: str) -> None:
        cfg = executor.config
        d = cfg.defaults
        self.executor = executor
        self.cfg = cfg
        self.agent = agent
        # The run's own copy: the caller's Invocation is left as it was, so it
        # can be reused. The copy is shallow: ``cancel`` stays the caller's
        # handle, so /cancel still reaches this run.
        self._parent_activity = invocation.on_activity
        self.inv = replace(invocation, input=user_input, on_activity=self._child_stepped)
        self.input = user_input
        #: When run() was called: the run's reported (and charged) runtime. Its
        #: time limit counts from later, see _drive.
        self.started = time.monotonic()
        self.tier = executor.tier_of(agent)
        self.max_iter = agent.max_iterations if agent.max_iterations > 0 else d.max_iterations
        self.max_runtime = agent.max_runtime if agent.max_runtime > 0 else d.max_runtime
        self.res = Result(run_id=invocation.run_id)
        self.rec: RunRecorder | None = None
        self.loop: AgentLoop | None = None
        self.critic: Critic | None = None
        self.session: SessionTools | None = None
        self.model: Model | None = None
        self.state = RunState(invocation.run_id, self.max_iter, self.max_runtime)
        self.compaction_threshold = 0
        self.mailbox = SteerMailbox()

    # -- the run ----------------------------------------------------------

    async def execute(self) -> Result:
        budget = self.cfg.ports.budget
        # Budget gate (pre-run): a rejected run makes no model call and has nothing to commit.
        if budget is not None:
            try:
                await budget.check(self.inv, self.agent.id)
            except asyncio.CancelledError:
                if caller_cancelled():
                    raise
                return await self._refused(ExecutorError("budget check failed: it was cancelled from inside"))
            except Exception as exc:
                return await self._refused(
                    exc if isinstance(exc, BudgetExceeded) else ExecutorError(f"budget check failed: {exc}")
                )
        reraise = False
        try:
            await self._main()
        except asyncio.CancelledError:
            if caller_cancelled():
                # The caller's own task was cancelled: record the run, then re-raise.
                reraise = True
                self.res.status = RunStatus.CANCELLED
                self.res.err = RunCancelled("the run's caller was cancelled")
            else:  # a port or hook raised CancelledError by itself: its failure, not a cancel
                self.res.status = RunStatus.ERROR
                self.res.err = ExecutorError("a step of the run was cancelled from inside, not by its caller")
        except Exception as exc:  # a Port, hook or builder failed part-way
            self.res.status = RunStatus.ERROR
            self.res.err = exc
        # Shielded so audit close and budget commit happen even if the caller
        # is cancelled now; after a cancellation only CLEANUP_TIMEOUT is waited.
        finish = asyncio.ensure_future(self._finish())
        try:
            if reraise:
                await asyncio.wait_for(asyncio.shield(finish), CLEANUP_TIMEOUT)
            else:
                await asyncio.shield(finish)
        except asyncio.CancelledError:
            reraise = True
        except TimeoutError:
            log.warning("run %s: cleanup after cancellation did not finish in time", self.res.run_id)
        if reraise:
            raise asyncio.CancelledError
        return self.res

    async def _refused(self, err: BaseException) -> Result:
        """The budget gate did not pass: no model call, nothing to commit. A
        refusal (not a failed check) is recorded through the Audit port."""
        self.res.err = err
        self.res.status = RunStatus.ERROR
        audit = self.cfg.ports.audit
        if audit is not None and isinstance(err, BudgetExceeded):
            await _isolated(audit.record_rejection(self._run_info(""), str(err)), "audit rejection", self.res.run_id)
        await self._deliver()
        return self.res

    async def _main(self) -> None:
        model = self._resolve_model()
        self.model = model
        audit = self.cfg.ports.audit
        if audit is not None:
            self.rec = await audit.start_run(self._run_info(model.name))
        self.inv.run_state = self.state
        mailbox = self.mailbox
        self.inv.attach_images = mailbox.attach_images
        toolbox = self.cfg.registry.build(self.agent.tools, self.inv, self.agent.visibility)
        add_delegation_tools(
            toolbox,
            self.agent,
            self.inv,
            self.cfg.ports.palette,
            self.executor.run,
            self.cfg.defaults.max_delegation_depth,
            self.cfg.defaults.max_runtime,
        )
        for tool in self.inv.extra_tools:
            toolbox.add(tool)
        if self.inv.session_tool_factory is not None:
            self.session = self.inv.session_tool_factory(mailbox)
            for tool in self.session.tools:
                toolbox.add(tool)
        escalator = self.cfg.ports.escalator if self.agent.critic else None
        self.critic = Critic(
            escalator=escalator,
            soft_timeout=self.cfg.defaults.critic_soft_timeout,
            run_id=self.inv.run_id,
            agent_id=self.agent.id,
            ceiling=self.max_iter,
            log_event=self._log_event,
        )
        self.compaction_threshold = self.executor.compaction_threshold(self.tier)
        limits = LoopLimits(
            self.cfg.defaults.max_consecutive_tool_errors, self.cfg.defaults.max_same_tool_call_repeats
        )
        self.loop = AgentLoop(model, toolbox, self.executor.system_prompt(self.agent), limits, self)
        self.res.status, err = await self._drive(self.loop, self.critic)
        self.res.err = err

    def _resolve_model(self) -> Model:
        try:
            model = self.cfg.models(self.tier)
        except ModelResolutionError:
            raise
        except Exception as exc:
            raise ModelResolutionError(f"resolve model {self.tier!r}: {exc}") from exc
        if model is None:
            raise ModelResolutionError(f"resolve model {self.tier!r}: no model is configured for this tier")
        return model

    async def _drive(self, loop: AgentLoop, critic: Critic) -> tuple[RunStatus, BaseException | None]:
        """Run the loop bounded by max_runtime, the member's cancel handle and
        the critic's kill; tell them apart.

        max_runtime counts from here, when the run starts working: neither time
        queued before run() nor the budget check, model resolution and toolbox
        build before this eat the run's time (the seed's V10 lesson).
        """
        self.state.started = time.monotonic()
        loop_task = asyncio.ensure_future(loop.run(self.input, self.inv.history, self.inv.input_images))
        cancel_task = asyncio.ensure_future(self.inv.cancel.wait())
        kill_task = asyncio.ensure_future(critic.killed.wait())
        watch_task = asyncio.ensure_future(critic.watch())
        try:
            done, _ = await asyncio.wait(
                {loop_task, cancel_task, kill_task}, timeout=self.max_runtime, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for t in (cancel_task, kill_task, watch_task):
                t.cancel()
            if not loop_task.done():
                # Bounded: a provider or hook that ignores the cancellation is
                # left behind rather than holding the run past its end.
                await stop(loop_task, f"run {self.res.run_id}'s loop", CLEANUP_TIMEOUT)
            await asyncio.gather(cancel_task, kill_task, watch_task, return_exceptions=True)
        if loop_task in done:
            if loop_task.cancelled():  # nobody here cancelled it: a provider or hook raised CancelledError
                return RunStatus.ERROR, ExecutorError(
                    "the run's loop was cancelled from inside (a model provider or a hook), not by its caller"
                )
            exc = loop_task.exception()
            return (RunStatus.OK, None) if exc is None else (RunStatus.ERROR, exc)
        if kill_task in done:
            return RunStatus.KILLED, CriticKilled("the supervisor stopped this run because it stalled")
        if cancel_task in done:
            return RunStatus.CANCELLED, RunCancelled(self.inv.cancel.reason or "cancelled")
        return RunStatus.TIMEOUT, RunTimeout(f"the run reached its time limit of {self.max_runtime:g} s")

    async def _finish(self) -> None:
        """PostRun -> audit close -> budget commit -> delivery -> Cleanup.

        Cleanup comes last, as the seed's deferred Cleanup does: delivery may
        still need what it would release. Each step is bounded (CLEANUP_TIMEOUT,
        delivery DELIVERY_TIMEOUT) and exception-isolated; each happens once.
        """
        loop = self.loop
        if loop is not None:
            self.res.output = loop.output
            self.res.usage = loop.usage
            self.res.ceiling_hit = loop.ceiling_hit
            self.res.transcript = list(loop.messages)
        self.res.runtime_seconds = time.monotonic() - self.started
        session = self.session
        if session is not None and session.post_run is not None:
            post_run = session.post_run(list(self.res.transcript), self.res.output, self.res.err)
            self.res.post_run_result = await _isolated(post_run, "PostRun", self.res.run_id)
        await self._close_audit()
        budget = self.cfg.ports.budget
        if budget is not None:
            spend = Spend(self.res.runtime_seconds, self.res.usage, self.res.status.value)
            await _isolated(budget.commit(self.inv, spend), "budget commit", self.res.run_id)
        await self._deliver()
        if session is not None and session.cleanup is not None:
            await _isolated(session.cleanup(), "session cleanup", self.res.run_id)

    async def _close_audit(self) -> None:
        if self.rec is None:
            return
        stats = RunStats(
            status=self.res.status.value,
            output=self.res.output,
            error=_describe(self.res.err),
            tool_calls=len(self.res.steps),
            runtime_seconds=self.res.runtime_seconds,
            usage=self.res.usage,
            ceiling_hit=self.res.ceiling_hit,
            steps=self.state.iteration,
        )
        await _isolated(self.rec.close(stats), "audit close", self.res.run_id)

    async def _deliver(self) -> None:
        delivery = self.cfg.ports.delivery
        if delivery is None or not self.inv.delivery_id:
            return
        target = Target(self.inv.delivery_kind, self.inv.delivery_id)
        send = delivery.deliver_error if self.res.err is not None else delivery.deliver
        await _isolated(send(target, self.res), "delivery", self.res.run_id, DELIVERY_TIMEOUT)

    def _run_info(self, model: str) -> RunInfo:
        return RunInfo(
            run_id=self.inv.run_id,
            agent_id=self.agent.id,
            agent_name=self.agent.name or self.agent.id,
            caller_id=self.inv.caller_id,
            guild_id=self.inv.guild_id,
            channel_id=self.inv.channel_id,
            parent_run_id=self.inv.parent_run_id,
            input=self.input,
            inputs=dict(self.inv.skill_inputs),
            started_at=datetime.now(UTC),
            max_iterations=self.max_iter,
            tier=self.tier,
            model=model,
        )

    async def _log_event(self, kind: str, data: dict[str, Any]) -> None:
        if self.rec is not None:
            await _isolated(self.rec.log_event(kind, data), f"audit event {kind}", self.res.run_id)

    async def _emit(self, event: StepEvent) -> None:
        """Live progress for the host; a failing observer never fails the run."""
        on_step = self.inv.on_step
        if on_step is None:
            return
        try:
            maybe = on_step(event)
            if maybe is not None:
                await maybe
        except Exception:
            log.exception("run %s: on_step observer failed", self.res.run_id)

    def _touch(self, iteration: int | None = None, tool: str = "") -> None:
        """This run made progress: its critic's idle clock restarts, and so do
        those of the runs waiting on it (a delegating parent, and its parent)."""
        assert self.critic is not None
        self.critic.touch(iteration, tool)
        if self._parent_activity is not None:
            self._parent_activity()

    def _child_stepped(self) -> None:
        """A sub-run this run delegated to made progress: this run is waiting
        on working, not idle. (Its tool list is left alone: the circling check
        at the ceiling is about this run's own calls.)"""
        if self.critic is not None:
            self._touch()

    # -- LoopHooks --------------------------------------------------------

    def ceiling(self) -> int:
        assert self.critic is not None
        self.state.max_steps = self.critic.ceiling()
        return self.state.max_steps

    async def at_ceiling(self, index: int) -> bool:
        assert self.critic is not None
        return await self.critic.at_ceiling(index)

    def steer(self) -> list[Message]:
        assert self.critic is not None
        return self.mailbox.drain() + self.critic.drain_steer()

    async def before_model(self, index: int, messages: list[Message]) -> list[Message]:
        await self._emit(StepEvent("model", index, self.ceiling()))
        threshold = self.compaction_threshold
        if threshold <= 0 or self.cfg.compactor is None or self.model is None:
            return messages
        before = estimate_tokens(messages)
        if before < threshold:
            return messages
        # The summary is a model call: what it spends is the run's, like any other.
        metered = MeteredModel(self.model)
        try:
            compacted = await self.cfg.compactor.compact(messages, metered, threshold)
        finally:
            assert self.loop is not None
            self.loop.usage += metered.usage
        if compacted is not messages:
            spent = metered.usage
            event = CompactionEvent(
                len(messages), len(compacted), before, estimate_tokens(compacted), spent.input_tokens, spent.output_tokens
            )
            await self._log_event("compaction_fired", asdict(event))
        return compacted

    async def tool_started(self, index: int, call: ToolCall) -> None:
        self._touch(tool=call.name)
        self.state.last_tool = call.name
        await self._emit(StepEvent("tool_start", index, self.ceiling(), call.name, call.arguments))

    async def tool_finished(self, index: int, call: ToolCall, result: ToolResult) -> None:
        self._touch()
        self.state.tool_calls += 1
        self.state.tool_errors += int(result.is_error)
        await self._emit(
            StepEvent("tool_end", index, self.ceiling(), call.name, call.arguments, result.content, result.is_error)
        )

    async def iteration_done(
        self, index: int, response: ModelResponse, calls: Sequence[ToolCall], results: Sequence[ToolResult]
    ) -> None:
        assert self.loop is not None
        self.state.iteration = index + 1
        self.state.usage = self.loop.usage
        self._touch(iteration=index + 1)
        if self.rec is not None:
            await self.rec.on_step(index, response.message, response.usage)
        for call, result in zip_steps(calls, results):
            self.res.steps.append(
                Step(index, call.id, call.name, call.arguments, result.content, result.is_error)
            )
            if self.rec is not None:
                await self.rec.on_tool(index, call, result)


def zip_steps(calls: Sequence[ToolCall], results: Sequence[ToolResult]) -> list[tuple[ToolCall, ToolResult]]:
    """Pair calls with results pairwise. A result without a call, or a call
    without a result, is skipped: never recorded as an empty "ghost" step."""
    return list(zip(calls, results, strict=False))


def _describe(err: BaseException | None) -> str:
    if err is None:
        return ""
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


async def _isolated(aw: Awaitable[T], what: str, run_id: str, timeout: float | None = None) -> T | None:
    """Await a post-run step, bounded by ``timeout`` (CLEANUP_TIMEOUT); log and
    swallow its failure, its timeout or a CancelledError it raised by itself.
    Returns its result, or None when it did not give one."""
    bound = CLEANUP_TIMEOUT if timeout is None else timeout
    task = await settle(aw, bound, f"run {run_id}: {what}")
    if task is None:
        log.warning("run %s: %s did not finish within %gs; the run goes on without it", run_id, what, bound)
    elif task.cancelled():
        log.warning("run %s: %s was cancelled from inside; the run goes on without it", run_id, what)
    elif (exc := task.exception()) is not None:
        log.error("run %s: %s failed", run_id, what, exc_info=exc)
    else:
        return task.result()
    return None
