"""Bounded waits on work that may not stop when asked.

A tool handler, a provider or a host hook can swallow ``CancelledError`` or
raise one of its own. Running such work as its own task lets the waiter tell
the two apart (the task cancelled itself vs. the waiter was cancelled) and
stop waiting at a bound instead of hanging on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long cancelled work may take to stop before it is left behind.
CANCEL_GRACE = 2.0


async def settle(
    aw: Awaitable[T], timeout: float, what: str, paused: Callable[[], float] | None = None
) -> asyncio.Future[T] | None:
    """Run ``aw`` as its own task and wait up to ``timeout`` seconds.

    Returns the finished task, for the caller to read its result, exception or
    its own cancellation; None when it timed out (it is then stopped). If the
    waiter is cancelled, the task is stopped too and CancelledError re-raised.
    ``paused``: the seconds the run has waited for people so far (its
    ``RunState.paused``); what it grows by meanwhile does not count toward
    ``timeout``, so a sub-run waiting for an approval is not cut off.
    """
    task = asyncio.ensure_future(aw)
    loop = asyncio.get_running_loop()
    started, paused_before = loop.time(), paused() if paused is not None else 0.0
    remaining = timeout
    try:
        while True:
            done = await _finished_within(loop, task, remaining)
            if done or paused is None:
                break
            remaining = timeout - (loop.time() - started - (paused() - paused_before))
            if remaining <= 0:
                break
    except asyncio.CancelledError:
        await stop(task, what)
        raise
    if not done:
        await stop(task, what)
        return None
    return task


async def _finished_within(loop: asyncio.AbstractEventLoop, task: asyncio.Future[Any], timeout: float) -> bool:
    """Whether ``task`` is done within ``timeout`` seconds; the task is never
    cancelled by the wait. ``asyncio.wait`` for one task, without its sets
    and checks: it is on every tool call's path."""
    if task.done():
        return True
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = loop.call_later(timeout, wake)
    task.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)
    return task.done()


async def stop(task: asyncio.Future[Any], what: str, grace: float | None = None) -> None:
    """Cancel ``task`` and wait for it at most ``grace`` seconds (CANCEL_GRACE).

    Work that ignores the cancellation is left behind, and logged; how it ends
    later is consumed so it never surfaces as an unretrieved exception.
    """
    bound = CANCEL_GRACE if grace is None else grace
    task.cancel()
    task.add_done_callback(_consume)
    done, _ = await asyncio.wait((task,), timeout=bound)
    if not done:
        log.warning("%s ignored cancellation for %gs; no longer waiting for it", what, bound)


async def isolated(aw: Awaitable[T], timeout: float, what: str) -> T | None:
    """Await side work that must never fail what it follows (a run's PostRun,
    audit writes, budget commit, delivery, Cleanup): bounded by ``timeout``;
    its failure, its timeout or a CancelledError it raised by itself is
    logged and swallowed. Returns its result, or None when it gave none."""
    task = await settle(aw, timeout, what)
    if task is None:
        log.warning("%s did not finish within %gs; the run goes on without it", what, timeout)
    elif task.cancelled():
        log.warning("%s was cancelled from inside; the run goes on without it", what)
    elif (exc := task.exception()) is not None:
        log.error("%s failed", what, exc_info=exc)
    else:
        return task.result()
    return None


def caller_cancelled() -> bool:
    """True when the current task has been asked to cancel, i.e. a
    CancelledError seen now is the caller's and not one some callee raised."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
