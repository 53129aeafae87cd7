"""The critic: watches a run's activity clock and asks the host's Escalator
what to do with a run that stalls or reaches its step ceiling.

It can nudge (inject a message before the next model call), extend (raise the
step ceiling mid-run, so a long but healthy run is not cut short) or kill
(the run ends as ``killed``). Without an Escalator, or for an agent that does
not enable it, it is a fixed ceiling and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from executor.llm.types import Message, UserMessage
from executor.ports import CriticDecision, CriticReport, Escalator

log = logging.getLogger(__name__)

LogEvent = Callable[[str, dict[str, Any]], Awaitable[None]]

#: Prefix of injected nudges, so the model and the transcript tell them apart.
NUDGE_PREFIX = "[supervisor] "


class Critic:
    def __init__(
        self,
        *,
        escalator: Escalator | None,
        soft_timeout: float,
        run_id: str,
        agent_id: str,
        ceiling: int,
        log_event: LogEvent,
        on_activity: Callable[[], None] | None = None,
        waiting: Callable[[], bool] = lambda: False,
    ) -> None:
        """``waiting``: whether the run waits for a person now (it is not
        idle meanwhile; whoever ends the wait touches the critic)."""
        self._escalator = escalator
        self._soft_timeout = soft_timeout
        self._run_id = run_id
        self._agent_id = agent_id
        self._ceiling = ceiling
        self._log_event = log_event
        self._on_activity = on_activity
        self._nudges: list[Message] = []
        self._last_activity = time.monotonic()
        self._iteration = 0
        self._recent_tools: list[str] = []
        self._waiting = waiting
        self.killed = asyncio.Event()

    def ceiling(self) -> int:
        return self._ceiling

    def touch(self, iteration: int | None = None, tool: str = "") -> None:
        """Record activity: the idle clock restarts, and so do those of the
        runs waiting on this one (``on_activity``: a delegating parent, and
        its parent). A sub-run's steps touch this run's critic the same way."""
        self._last_activity = time.monotonic()
        if self._on_activity is not None:
            self._on_activity()
        if iteration is not None:
            self._iteration = iteration
        if tool:
            self._recent_tools = (self._recent_tools + [tool])[-5:]

    def drain_steer(self) -> list[Message]:
        out, self._nudges = self._nudges, []
        return out

    async def watch(self) -> None:
        """Runs beside the loop until cancelled; escalates after each idle
        window of ``soft_timeout`` seconds without activity. The first window
        counts from here, when the run starts working."""
        self._last_activity = time.monotonic()
        escalator = self._escalator
        if escalator is None:
            return
        while not self.killed.is_set():
            if self._waiting():
                self._last_activity = time.monotonic()
            idle = time.monotonic() - self._last_activity
            if idle < self._soft_timeout:
                await asyncio.sleep(self._soft_timeout - idle)
                continue
            await self._escalate(escalator, "idle", idle)
            self._last_activity = time.monotonic()

    async def at_ceiling(self, index: int) -> bool:
        """The loop reached the ceiling: may the critic extend it?"""
        escalator = self._escalator
        if escalator is None:
            return False
        before = self._ceiling
        await self._escalate(escalator, "ceiling", time.monotonic() - self._last_activity)
        return self._ceiling > before and index < self._ceiling and not self.killed.is_set()

    async def _escalate(self, escalator: Escalator, reason: str, idle: float) -> None:
        report = CriticReport(
            run_id=self._run_id,
            agent_id=self._agent_id,
            reason="idle" if reason == "idle" else "ceiling",
            idle_seconds=idle,
            iteration=self._iteration,
            max_steps=self._ceiling,
            last_tools=tuple(self._recent_tools),
        )
        try:
            decision = await escalator.escalate(report)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("critic escalator failed for run %s; continuing", self._run_id)
            return
        await self._apply(decision, reason)

    async def _apply(self, decision: CriticDecision, reason: str) -> None:
        if decision.action == "continue":
            return
        data: dict[str, Any] = {"reason": reason, "iteration": self._iteration, "max_steps": self._ceiling}
        if decision.action == "nudge" and decision.message:
            self._nudges.append(UserMessage(NUDGE_PREFIX + decision.message))
            data["message"] = decision.message
        elif decision.action == "extend" and decision.extra_steps > 0:
            self._ceiling += decision.extra_steps
            data["new_max_steps"] = self._ceiling
        elif decision.action == "kill":
            data["message"] = decision.message
            self.killed.set()
        else:
            return
        await self._log_event(f"critic_{decision.action}", data)
