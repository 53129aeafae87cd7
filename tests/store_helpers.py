"""Builders shared by the store tests: a settable clock, RunInfo, RunStats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from executor.llm.types import Usage
from executor.ports import RunInfo, RunStats


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def url(tmp_path: Path, name: str = "executus.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def run_info(
    run_id: str,
    *,
    caller: str = "u1",
    guild: str = "g1",
    parent: str = "",
    agent: str = "helper",
    started_at: datetime = datetime(2025, 3, 5, 12, 0, tzinfo=UTC),
) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        agent_id=agent,
        agent_name=agent.title(),
        caller_id=caller,
        guild_id=guild,
        channel_id="c1",
        parent_run_id=parent,
        input=f"input of {run_id}",
        inputs={"topic": "tests"},
        started_at=started_at,
        max_iterations=8,
        tier="fast",
        model="scripted",
    )


def stats(status: str = "ok", *, output: str = "done", usage: Usage | None = None, steps: int = 1) -> RunStats:
    return RunStats(
        status=status,
        output=output,
        error="" if status == "ok" else f"{status} happened",
        tool_calls=1,
        runtime_seconds=2.5,
        usage=usage or Usage(100, 20),
        ceiling_hit=False,
        steps=steps,
    )
