"""Executor: the run contract.

A port of the Go executor's ``Run``: budget gate -> resolve model -> audit
start + run state -> steer mailbox -> toolbox -> delegation tools -> session
tools -> runtime bound + cancellation -> critic -> loop -> PostRun -> audit
close -> budget commit -> delivery -> session Cleanup.

Everything a run needs is built before its loop starts (critic, recorder,
hooks, toolbox); what it produces is read back after, even part-way.

The whole run, budget gate included, is inside the tracer's
``invoke_agent`` span (``Ports.tracer``): the model is looked up first to
name it there, and a failed lookup still fails the run after the gate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from executor.agent import RunnableAgent
from executor.approval import ApprovalGate
from executor.compact import Compaction
from executor.config import Config
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
from executor.hooks import RunHooks
from executor.llm.model import Model
from executor.loop import AgentLoop, LoopLimits, SteerMailbox
from executor.ports import RunInfo, RunRecorder, RunStats, Spend, Target
from executor.record import RunRecord
from executor.result import Result, RunStatus
from executor.spending import PricedModel
from executor.state import RunState
from executor.tasks import caller_cancelled, isolated, stop
from executor.tools.invocation import Invocation
from executor.tools.registry import Toolbox
from executor.tools.session import SessionToolFactory, SessionTools
from executor.tracing import REJECTED, TracedModel, split_model_name

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Bound on each post-run step (PostRun, audit close, budget commit, Cleanup),
#: on the cleanup a cancelled caller waits for, and on a cancelled loop that
#: will not stop, so shutdown cannot hang on any of them.
CLEANUP_TIMEOUT = 10.0
#: Delivery may upload files; it gets longer, and is still bounded.
DELIVERY_TIMEOUT = 60.0


class Executor:
    """Runs RunnableAgents with the wired Ports. Safe for concurrent runs."""

    def __init__(self, config: Config) -> None:
        if config.registry is None or config.models is None:
            raise TypeError("Executor: Config.registry and Config.models are required")
        config.defaults = config.defaults.with_fallbacks()
        self.config = config

    async def run(
        self,
        agent: RunnableAgent,
        invocation: Invocation,
        user_input: str,
        session_tools: SessionToolFactory | None = None,
        resume: RunRecord | None = None,
    ) -> Result:
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

        ``session_tools`` mints this run's own tools (and its PostRun and
        Cleanup hooks); a delegated sub-run gets none.

        ``resume``: this run (``invocation.run_id``) was started by a process
        that died, and goes on here from its record (executor/record.py): no
        budget check (its reservation stands), its audit rows are added to
        (``Audit.resume_run``), recorded model responses and tool results are
        replayed rather than made again, and its time limit and runtime count
        the time it had already used. ``invocation`` and ``user_input`` must
        be the run's own, with the history it started with.
        """
        run = _Run(self, agent, invocation, user_input, session_tools, resume)
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
    """One run: built whole in ``__init__`` and ``_main`` before its loop
    starts, then driven, then finished on every path."""

    def __init__(
        self,
        executor: Executor,
        agent: RunnableAgent,
        invocation: Invocation,
        user_input: str,
        session_tools: SessionToolFactory | None,
        resume: RunRecord | None = None,
    ) -> None:
        cfg = executor.config
        d = cfg.defaults
        self.executor = executor
        self.cfg = cfg
        self.agent = agent
        self.input = user_input
        self.session_tools = session_tools
        self.resume = resume
        #: Run time a resumed run had used before its process died.
        self.used = resume.elapsed if resume is not None else 0.0
        #: When run() was called (less the time used before a restart): the
        #: run's reported (and charged) runtime counts from here, less its
        #: waits for people (approvals), as its time limit does. That limit
        #: counts from later, see _drive.
        self.started = time.monotonic() - self.used
        self.tier = executor.tier_of(agent)
        self.max_iter = agent.max_iterations if agent.max_iterations > 0 else d.max_iterations
        self.max_runtime = agent.max_runtime if agent.max_runtime > 0 else d.max_runtime
        self.res = Result(run_id=invocation.run_id)
        self.state = RunState(invocation.run_id, self.max_iter, self.max_runtime)
        self.mailbox = SteerMailbox()
        self.critic = Critic(
            escalator=cfg.ports.escalator if agent.critic else None,
            soft_timeout=d.critic_soft_timeout,
            run_id=invocation.run_id,
            agent_id=agent.id,
            ceiling=max(self.max_iter, resume.ceiling if resume is not None else 0),
            log_event=self._log_event,
            on_activity=invocation.on_activity,
            waiting=lambda: self.state.waiting > 0,
        )
        # The run's own copy, built once: the caller's Invocation is left as
        # it was, so it can be reused. The copy is shallow: ``cancel`` stays
        # the caller's handle, so /cancel still reaches this run. A sub-run's
        # steps (``on_activity``) restart this run's idle clock.
        #: The delegating parent's waits (None for a top-level run): this run's waits are its too.
        self._parent_wait = invocation.on_wait
        self.inv = replace(
            invocation,
            input=user_input,
            run_state=self.state,
            attach_images=self.mailbox.attach_images,
            on_activity=self.critic.touch,
            on_wait=self._waiting,
        )
        #: Set part-way through _main; None when the run failed before.
        self.rec: RunRecorder | None = None
        self.session: SessionTools | None = None
        self.loop: AgentLoop | None = None
        #: The budget gate refused the run (its span ends ``rejected``).
        self.rejected = False
        #: The tier's model, or why it does not resolve: the run then fails in
        #: _main, after the budget gate, and says why.
        self.model: Model | ModelResolutionError
        try:
            self.model = self._resolve_model()
        except ModelResolutionError as exc:
            self.model = exc

    # -- the run ----------------------------------------------------------

    async def execute(self) -> Result:
        """The run inside its ``invoke_agent`` span, which ends with the run's
        status on every path (a caller's cancellation included)."""
        named = "" if isinstance(self.model, ModelResolutionError) else self.model.name
        provider, model = split_model_name(named) if named else ("", "")
        with self.cfg.ports.tracer.invoke_agent(
            agent_id=self.agent.id,
            agent_name=self.agent.name or self.agent.id,
            run_id=self.res.run_id,
            provider=provider,
            model=model,
        ) as span:
            try:
                return await self._execute()
            finally:
                span.finish(REJECTED if self.rejected else self.res.status.value, self.res.usage)

    async def _execute(self) -> Result:
        budget = self.cfg.ports.budget
        # Budget gate (pre-run): a rejected run makes no model call and has nothing to commit.
        # A resumed run was admitted before; its reservation stands.
        if budget is not None and self.resume is None:
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
        self.rejected = isinstance(err, BudgetExceeded)
        if audit is not None and self.rejected:
            await self._isolated(audit.record_rejection(self._run_info(""), str(err)), "audit rejection")
        await self._deliver()
        return self.res

    async def _main(self) -> None:
        if isinstance(self.model, ModelResolutionError):
            raise self.model
        model = TracedModel(self._priced(self.model), self.cfg.ports.tracer)
        audit = self.cfg.ports.audit
        if audit is not None:
            if self.resume is not None:
                self.rec = await audit.resume_run(self.inv.run_id)
            else:
                self.rec = await audit.start_run(self._run_info(model.name))
        d = self.cfg.defaults
        hooks = RunHooks(
            critic=self.critic,
            state=self.state,
            mailbox=self.mailbox,
            recorder=self.rec,
            log_event=self._log_event,
            on_step=self.inv.on_step,
            steps=self.res.steps,
            on_delta=self.inv.on_delta,
        )
        toolbox = await self._toolbox(hooks)
        threshold = self.executor.compaction_threshold(self.tier)
        compactor = self.cfg.compactor
        compaction = Compaction(compactor, threshold) if compactor is not None and threshold > 0 else None
        limits = LoopLimits(d.max_consecutive_tool_errors, d.max_same_tool_call_repeats)
        self.loop = AgentLoop(
            model,
            toolbox,
            self.executor.system_prompt(self.agent),
            limits,
            hooks,
            compaction,
            self.cfg.ports.tracer,
            self.resume,
        )
        self.res.status, self.res.err = await self._drive(self.loop)

    async def _toolbox(self, hooks: RunHooks) -> Toolbox:
        """The agent's registry tools, its delegation tools, this run's session
        tools, then those the ToolSource offers it; gated when the agent's
        approval policy says so (the gate reports its waits through ``hooks``)."""
        toolbox = self.cfg.registry.build(self.agent.tools, self.inv, self.agent.visibility)
        d = self.cfg.defaults
        add_delegation_tools(
            toolbox,
            self.agent,
            self.inv,
            self.cfg.ports.palette,
            self.executor.run,
            d.max_delegation_depth,
            d.max_runtime,
        )
        if self.session_tools is not None:
            self.session = self.session_tools(self.mailbox)
            for tool in self.session.tools:
                toolbox.add(tool)
        source = self.cfg.ports.tools
        if source is not None and self.agent.external_tools:
            for tool in await source.tools(self.agent, self.inv):
                toolbox.add(tool)
        if self.agent.approval is not None:
            toolbox.gate = ApprovalGate(
                self.agent.approval,
                self.cfg.ports.approver,
                self.inv,
                self.agent.id,
                self._log_event,
                self._waiting,
                hooks.approval,
            )
        return toolbox

    @contextmanager
    def _waiting(self) -> Iterator[None]:
        """A call waits for a person: the time limit and the critic's idle
        clock stand still, this run's and those of the runs that delegated to it."""
        self.state.wait_started()
        try:
            with self._parent_wait() if self._parent_wait is not None else nullcontext():
                yield
        finally:
            self.state.wait_ended()
            self.critic.touch()  # its idle clock restarts when the wait ends

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

    def _priced(self, model: Model) -> Model:
        """``model`` with each call held against the member's money, priced
        and settled; as it is when the host counts no money (no tariffs, no
        CallBudget), whose Usage then carries no cost."""
        tariffs, calls = self.cfg.tariffs, self.cfg.ports.calls
        if tariffs is None and calls is None:
            return model
        return PricedModel(model, tariffs(self.tier) if tariffs is not None else None, calls, self.inv)

    async def _drive(self, loop: AgentLoop) -> tuple[RunStatus, BaseException | None]:
        """Run the loop bounded by max_runtime, the member's cancel handle and
        the critic's kill; tell them apart.

        max_runtime counts from here, when the run starts working: neither time
        queued before run() nor the budget check, model resolution and toolbox
        build before this eat the run's time (the seed's V10 lesson). A
        resumed run has only what its earlier process left of it.
        """
        self.state.started = time.monotonic() - self.used
        loop_task = asyncio.ensure_future(loop.run(self.input, self.inv.history, self.inv.input_images))
        cancel_task = asyncio.ensure_future(self.inv.cancel.wait())
        kill_task = asyncio.ensure_future(self.critic.killed.wait())
        watch_task = asyncio.ensure_future(self.critic.watch())
        try:
            # The deadline moves while a call waits for a person (see _waiting).
            done: set[asyncio.Future[Any]] = set()
            while not done and (left := self.state.deadline() - time.monotonic()) > 0:
                done, _ = await asyncio.wait(
                    {loop_task, cancel_task, kill_task}, timeout=left, return_when=asyncio.FIRST_COMPLETED
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
        self.res.runtime_seconds = time.monotonic() - self.started - self.state.paused()
        session = self.session
        if session is not None and session.post_run is not None:
            post_run = session.post_run(list(self.res.transcript), self.res.output, self.res.err)
            self.res.post_run_result = await self._isolated(post_run, "PostRun")
        await self._close_audit()
        budget = self.cfg.ports.budget
        if budget is not None:
            spend = Spend(self.res.runtime_seconds, self.res.usage, self.res.status.value)
            await self._isolated(budget.commit(self.inv, spend), "budget commit")
        await self._deliver()
        if session is not None and session.cleanup is not None:
            await self._isolated(session.cleanup(), "session cleanup")

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
        await self._isolated(self.rec.close(stats), "audit close")

    async def _deliver(self) -> None:
        delivery = self.cfg.ports.delivery
        if delivery is None or not self.inv.delivery_id:
            return
        target = Target(self.inv.delivery_kind, self.inv.delivery_id)
        send = delivery.deliver_error if self.res.err is not None else delivery.deliver
        await self._isolated(send(target, self.res), "delivery", DELIVERY_TIMEOUT)

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
            await self._isolated(self.rec.log_event(kind, data), f"audit event {kind}")

    async def _isolated(self, aw: Awaitable[T], what: str, timeout: float | None = None) -> T | None:
        """A post-run step or audit write: bounded (CLEANUP_TIMEOUT unless
        ``timeout``), and what goes wrong in it is logged, never the run's."""
        bound = CLEANUP_TIMEOUT if timeout is None else timeout
        return await isolated(aw, bound, f"run {self.res.run_id}: {what}")


def _describe(err: BaseException | None) -> str:
    if err is None:
        return ""
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
