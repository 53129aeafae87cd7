"""The Audit port on the store: a ``runs`` row per run, with its steps, tool
calls and events, and a ``rejected`` row for each run the budget refused."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from bot.store.bounded import RUN_TEXT_LIMIT, bounded, bounded_json
from bot.store.clock import Clock, to_db
from bot.store.records import DRAFT_EVENT, Encoder, ResumeRequest, json_text
from bot.store.statuses import StoredStatus
from bot.store.writer import Statement, Writer
from executor import NO_CONTEXT, RunInfo, RunStats, StepContext
from executor.llm import AssistantMessage, ToolCall, Usage
from executor.tools import ToolResult

BUDGET_REJECTED_EVENT = "budget_rejected"
#: Logged when a process takes up a run a gone one started.
RUN_RESUMED_EVENT = "run_resumed"


#: A step's columns besides its key: a step recorded again (a retried
#: model call) replaces them.
_STEP_VALUES = (
    "content",
    "reasoning",
    "tool_calls",
    "input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cost_micros",
    "unpriced_calls",
    "replay",
    "created_at",
)
_INSERT_STEP = (
    f"INSERT INTO steps (run_id, step, {', '.join(_STEP_VALUES)}) VALUES ({', '.join('?' * (len(_STEP_VALUES) + 2))})"
    f" ON CONFLICT (run_id, step) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _STEP_VALUES)}"
)


class StoreRecorder:
    """One run's RunRecorder, and its checkpoint (records.py).

    ``durable``: a step or tool result returns once it is committed (a
    commit survives the process's death; the writer groups the commits of
    concurrent runs, so this costs a share of one commit, not one each).
    Otherwise they are queued and a step never waits on a commit; the run
    cannot be resumed. Events are always queued. ``close`` waits until the
    run's terminal row, and everything the run queued before it, is
    committed durably. ``close`` takes effect once; later calls are no-ops
    (the row's status also changes only from ``running``).
    """

    def __init__(self, run_id: str, writer: Writer, clock: Clock, durable: bool = False) -> None:
        self.run_id = run_id
        self._writer = writer
        self._clock = clock
        self._durable = durable
        self._closed = False

    async def _record(self, encoder: Encoder, row: Statement) -> None:
        if self._durable:
            await self._writer.write(*encoder.blobs, row)
        else:
            await self._writer.submit(*encoder.blobs, row)

    async def on_step(
        self, index: int, response: AssistantMessage, usage: Usage, *, context: StepContext = NO_CONTEXT
    ) -> None:
        calls = json_text([{"id": c.id, "name": c.name} for c in response.tool_calls])
        encoder = Encoder(self._clock)
        replay = encoder.step(response, usage, context) if self._durable else ""
        await self._record(
            encoder,
            (
                _INSERT_STEP,
                (
                    self.run_id,
                    index,
                    bounded(response.content),
                    bounded(response.reasoning),
                    calls,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.reasoning_tokens,
                    usage.cached_tokens,
                    usage.cost_micros,
                    usage.unpriced_calls,
                    replay,
                    to_db(self._clock()),
                ),
            ),
        )

    async def on_tool(self, index: int, call: ToolCall, result: ToolResult, *, elapsed: float = 0.0) -> None:
        encoder = Encoder(self._clock)
        replay = encoder.result(result, elapsed) if self._durable else ""
        await self._record(
            encoder,
            (
                "INSERT INTO tool_calls (run_id, step, call_id, name, arguments, result, is_error, images,"
                " replay, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.run_id,
                    index,
                    call.id,
                    call.name,
                    bounded(call.arguments),
                    bounded(result.content),
                    int(result.is_error),
                    len(result.images),
                    replay,
                    to_db(self._clock()),
                ),
            ),
        )

    async def log_event(self, kind: str, data: dict[str, Any]) -> None:
        await self._writer.submit(_event(self.run_id, kind, data, self._clock))

    async def close(self, stats: RunStats) -> None:
        if self._closed:
            return
        usage = stats.usage
        await self._writer.write(
            (
                "UPDATE runs SET status = ?, output = ?, error = ?, finished_at = ?, runtime_seconds = ?,"
                " input_tokens = ?, output_tokens = ?, reasoning_tokens = ?, cached_tokens = ?, cost_micros = ?,"
                " unpriced_calls = ?, tool_calls = ?, steps = ?, ceiling_hit = ? WHERE run_id = ? AND status = ?",
                (
                    stats.status,
                    bounded(stats.output, RUN_TEXT_LIMIT),
                    bounded(stats.error, RUN_TEXT_LIMIT),
                    to_db(self._clock()),
                    stats.runtime_seconds,
                    usage.input_tokens,
                    usage.output_tokens,
                    usage.reasoning_tokens,
                    usage.cached_tokens,
                    usage.cost_micros,
                    usage.unpriced_calls,
                    stats.tool_calls,
                    stats.steps,
                    int(stats.ceiling_hit),
                    self.run_id,
                    StoredStatus.RUNNING,
                ),
            ),
            durable=True,
        )
        self._closed = True


class StoreAudit:
    """The Audit port. ``start_run`` waits until the ``running`` row is
    committed, so a crash after it leaves a row for recovery to take over
    (resume, or mark ``interrupted``). Rows name ``owner_id``, this process
    (see owners.py). ``durable``: runs are recorded as their checkpoint
    (RUNS_DURABLE, see StoreRecorder)."""

    def __init__(self, writer: Writer, clock: Clock, owner_id: str, durable: bool = True) -> None:
        self._writer = writer
        self._clock = clock
        self._owner_id = owner_id
        self.durable = durable
        self._progress: dict[str, tuple[str, ResumeRequest | None]] = {}

    @contextlib.contextmanager
    def progress_shown(self, run_id: str, message_id: str, resume: ResumeRequest | None = None) -> Iterator[None]:
        """While the block runs, run ``run_id`` records ``message_id`` as its
        progress message when it starts (in its ``running`` row, so that if
        this process dies mid-run, the one that takes the run over can
        finish that message), and ``resume``, what to ask again to resume it
        (durable runs only). The run is started inside the block by the
        executor, which knows nothing of messages."""
        self._progress[run_id] = (message_id, resume)
        try:
            yield
        finally:
            self._progress.pop(run_id, None)

    async def draft_shown(self, run_id: str, message_id: str) -> None:
        """Record that run ``run_id`` posted ``message_id`` as a draft of its
        streamed answer (a ``draft`` event). If the process dies before the
        answer is settled, whoever resumes the run, or tells its thread it
        was interrupted, withdraws the draft, which would otherwise stand in
        the thread as if it were an answer."""
        await self._writer.submit(_event(run_id, DRAFT_EVENT, {"message_id": message_id}, self._clock))

    async def start_run(self, info: RunInfo) -> StoreRecorder:
        message_id, request = self._progress.get(info.run_id, ("", None))
        encoder = Encoder(self._clock)
        resume = encoder.request(request) if request is not None and self.durable else ""
        await self._writer.write(
            *encoder.blobs,
            _run_row(
                info,
                status=StoredStatus.RUNNING,
                owner_id=self._owner_id,
                progress_message_id=message_id,
                resume=resume,
            ),
        )
        return StoreRecorder(info.run_id, self._writer, self._clock, self.durable)

    async def resume_run(self, run_id: str) -> StoreRecorder:
        """The recorder of a run this process took over (``Store.recovery.resumed``).
        The ``run_resumed`` event is committed first: recovery counts them
        (a run that keeps killing its process is not resumed for ever)."""
        await self._writer.write(_event(run_id, RUN_RESUMED_EVENT, {"owner_id": self._owner_id}, self._clock))
        return StoreRecorder(run_id, self._writer, self._clock, self.durable)

    async def record_rejection(self, info: RunInfo, reason: str) -> None:
        """Record a run the budget refused: a ``rejected`` run row (so it shows
        in run lists) and a ``budget_rejected`` event with the reason."""
        await self._writer.write(
            _run_row(
                info,
                on_conflict=" ON CONFLICT (run_id) DO NOTHING",
                status=StoredStatus.REJECTED,
                owner_id=self._owner_id,
                error=bounded(reason, RUN_TEXT_LIMIT),
                finished_at=to_db(self._clock()),
            ),
            _event(info.run_id, BUDGET_REJECTED_EVENT, {"agent_id": info.agent_id, "message": reason}, self._clock),
        )


def _run_row(info: RunInfo, *, on_conflict: str = "", **more: object) -> tuple[str, tuple[Any, ...]]:
    """A new ``runs`` row: what ``info`` says of the run, and ``more`` columns."""
    columns: dict[str, object] = {
        "run_id": info.run_id,
        "agent_id": info.agent_id,
        "agent_name": info.agent_name,
        "caller_id": info.caller_id,
        "guild_id": info.guild_id,
        "channel_id": info.channel_id,
        "parent_run_id": info.parent_run_id,
        "tier": info.tier,
        "model": info.model,
        "input": bounded(info.input, RUN_TEXT_LIMIT),
        "inputs": bounded_json(info.inputs, RUN_TEXT_LIMIT),
        "max_iterations": info.max_iterations,
        "started_at": to_db(info.started_at),
        **more,
    }
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO runs ({', '.join(columns)}) VALUES ({marks}){on_conflict}", tuple(columns.values())


def _event(run_id: str, kind: str, data: dict[str, Any], clock: Clock) -> tuple[str, tuple[Any, ...]]:
    return (
        "INSERT INTO events (run_id, kind, data, created_at) VALUES (?, ?, ?, ?)",
        (run_id, kind, bounded_json(data), to_db(clock())),
    )
