"""One of the processes test_store_budget_processes starts: it opens the
store, prints ``ready``, waits for a line on stdin (so that every process
starts checking at once), then makes COUNT concurrent budget checks for
member u1 of guild g1 and prints the run ids let in, on one line after
``admitted``. Its clock is fixed, so a run of the test cannot straddle
midnight.

Usage: python -m tests.store_budget_child DATABASE_URL NAME COUNT
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from bot.store import BudgetRefused, Store
from executor.tools.invocation import Invocation

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


async def main(database_url: str, name: str, count: int) -> None:
    async with Store(database_url, clock=lambda: NOW) as store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        runs = [Invocation("u1", run_id=f"{name}-{n}", guild_id="g1") for n in range(count)]
        outcomes = await asyncio.gather(*(store.budget.check(r, "helper") for r in runs), return_exceptions=True)
        unexpected = [o for o in outcomes if o is not None and not isinstance(o, BudgetRefused)]
        if unexpected:
            raise unexpected[0]
        print("admitted", *(r.run_id for r, o in zip(runs, outcomes, strict=True) if o is None), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
