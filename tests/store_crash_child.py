"""The process test_store_crash kills: it writes runs into the store in a
loop, forever, and prints each run id on stdout once that run's audit
close() and budget commit() have returned. Its EXECUTOR_ID is EXECUTOR_ID,
with a short lease on PostgreSQL (CHILD_LEASE_SECONDS).

Usage: python -m tests.store_crash_child DATABASE_URL
"""

from __future__ import annotations

import asyncio
import sys

from bot.store import Store
from executor.llm.types import AssistantMessage, ToolCall, Usage
from executor.ports import Spend
from executor.tools.base import ToolResult
from executor.tools.invocation import Invocation
from tests.databases import CHILD_LEASE_SECONDS
from tests.store_helpers import run_info, stats

EXECUTOR_ID = "crash-child"
STEPS = 6
CONCURRENT_RUNS = 4


async def one_run(store: Store, run_id: str) -> None:
    invocation = Invocation("u1", run_id=run_id, guild_id="g1")
    await store.budget.check(invocation, "helper")
    recorder = await store.audit.start_run(run_info(run_id))
    for step in range(STEPS):
        call = ToolCall(f"{run_id}-{step}", "echo", '{"text": "' + "w" * 200 + '"}')
        await recorder.on_step(step, AssistantMessage(f"step {step}", (call,)), Usage(10, 2))
        await recorder.on_tool(step, call, ToolResult("r" * 2000))
        await recorder.log_event("tick", {"step": step})
    await recorder.close(stats("ok", output=f"output of {run_id}", usage=Usage(10 * STEPS, 2 * STEPS), steps=STEPS))
    await store.budget.commit(invocation, Spend(1.0, Usage(10 * STEPS, 2 * STEPS), "ok"))
    print(run_id, flush=True)


async def main(database_url: str) -> None:
    async with Store(database_url, executor_id=EXECUTOR_ID, lease_seconds=CHILD_LEASE_SECONDS) as store:
        round_ = 0
        while True:
            await asyncio.gather(*(one_run(store, f"run-{round_}-{k}") for k in range(CONCURRENT_RUNS)))
            round_ += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
