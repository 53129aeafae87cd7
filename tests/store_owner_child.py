"""A process holding a live run, as the console or a second bot would:
it opens the store, reserves and starts run RUN_ID (one step recorded),
prints ``ready`` and its EXECUTOR_ID, then waits until its stdin closes or
it is killed. On PostgreSQL its lease is short (CHILD_LEASE_SECONDS), so
that the tests that kill it need not wait long for its runs to be taken over.

Usage: python -m tests.store_owner_child DATABASE_URL RUN_ID
"""

from __future__ import annotations

import asyncio
import sys

from bot.store import Store
from executor.llm.types import AssistantMessage, Usage
from executor.tools.invocation import Invocation
from tests.databases import CHILD_LEASE_SECONDS
from tests.store_helpers import run_info


async def main(database_url: str, run_id: str) -> None:
    async with Store(database_url, lease_seconds=CHILD_LEASE_SECONDS) as store:
        await store.budget.check(Invocation("u1", run_id=run_id, guild_id="g1"), "helper")
        recorder = await store.audit.start_run(run_info(run_id))
        await recorder.on_step(0, AssistantMessage("thinking"), Usage(10, 2))
        print("ready", store.executor_id, flush=True)
        await asyncio.to_thread(sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
