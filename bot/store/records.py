"""A run's rows as its checkpoint: what they hold beyond the audit, and
reading them back as the executor's RunRecord.

A step row's ``replay`` holds the whole model response (the audit columns
are bounded for reading) with what shaped the call (executor/record.py); a
tool call's ``replay`` the whole result. Images are stored by reference: the
row names a ``blobs`` row by the SHA-256 of its bytes, so an image a run
sends on every call, or many runs send, is stored once. The ``runs`` row of
a run that can resume holds its ``ResumeRequest``: what the host needs to
start it again in its thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

from bot.store.clock import Clock, to_db
from bot.store.database import Tx, placeholders
from bot.store.writer import Statement
from executor import CompactionEdit, RecordedStep, RunRecord, StepContext
from executor.llm import (
    AssistantMessage,
    Image,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from executor.tools import AttachedFile, ToolResult

JSON = dict[str, Any]

#: Each use of a blob renews its ``created_at``: retention drops blobs no run has used since its cutoff.
_INSERT_BLOB = (
    "INSERT INTO blobs (digest, media_type, data, created_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (digest) DO UPDATE SET created_at = excluded.created_at"
)


@dataclass(frozen=True, slots=True)
class ResumeRequest:
    """What the host asked for when it started a run, as it asks again to
    resume it: ``agent_id`` on ``prompt`` for ``caller_id`` in the
    conversation ``thread_id``, with the member's images and files and the
    agent's session tools."""

    agent_id: str
    caller_id: str
    guild_id: str
    thread_id: str
    prompt: str
    images: tuple[Image, ...] = ()
    attachments: tuple[AttachedFile, ...] = ()
    session_tools: tuple[str, ...] = ()
    #: The caller's role ids (budgets and approvals per role).
    caller_roles: tuple[str, ...] = ()


#: The event kind of a streamed answer's draft message (``StoreAudit.draft_shown``).
DRAFT_EVENT = "draft"


@dataclass(frozen=True, slots=True)
class ResumableRun:
    """A run this process took over from a gone one, to resume. ``drafts``:
    the messages its streamed answer had posted, to withdraw."""

    run_id: str
    agent_name: str
    progress_message_id: str
    request: ResumeRequest
    record: RunRecord
    drafts: tuple[str, ...] = ()


def json_text(value: Any) -> str:
    """``value`` as JSON text for a column. orjson: a durable run encodes a
    step and a result on every model call, and the stdlib's encoder was a
    tenth of the loop's own CPU time there."""
    return orjson.dumps(value).decode()


class Encoder:
    """Turns records into JSON, collecting the blob rows for their images."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.blobs: list[Statement] = []

    def image(self, image: Image) -> JSON:
        digest = hashlib.sha256(image.data).hexdigest()
        self.blobs.append((_INSERT_BLOB, (digest, image.media_type, image.data, to_db(self._clock()))))
        return {"blob": digest, "media_type": image.media_type, "source": image.source}

    def message(self, m: Message) -> JSON:
        if isinstance(m, AssistantMessage):
            return {"role": m.role, **_assistant(m)}
        if isinstance(m, ToolResultMessage):
            return {
                "role": m.role,
                "call_id": m.call_id,
                "name": m.name,
                "content": m.content,
                "is_error": m.is_error,
                "images": [self.image(i) for i in m.images],
            }
        if isinstance(m, UserMessage):
            return {"role": m.role, "content": m.content, "images": [self.image(i) for i in m.images]}
        return {"role": m.role, "content": m.content}

    def step(self, response: AssistantMessage, usage: Usage, context: StepContext) -> str:
        edit = context.compaction
        return json_text(
            {
                **_assistant(response),
                "usage": _usage(usage),
                "steer": [self.message(m) for m in context.steer],
                "compaction": None
                if edit is None
                else {
                    "head": edit.head,
                    "tail": edit.tail,
                    "inserted": [self.message(m) for m in edit.inserted],
                    "usage": _usage(edit.usage),
                },
                "ceiling": context.ceiling,
                "elapsed": context.elapsed,
            }
        )

    def result(self, result: ToolResult, elapsed: float) -> str:
        images = [self.image(i) for i in result.images]
        return json_text({"content": result.content, "images": images, "elapsed": elapsed})

    def request(self, request: ResumeRequest) -> str:
        return json_text(
            {
                "agent_id": request.agent_id,
                "caller_id": request.caller_id,
                "guild_id": request.guild_id,
                "thread_id": request.thread_id,
                "prompt": request.prompt,
                "images": [self.image(i) for i in request.images],
                "attachments": [[a.name, a.url, a.content_type, a.size] for a in request.attachments],
                "session_tools": list(request.session_tools),
                "caller_roles": list(request.caller_roles),
            }
        )


def _assistant(m: AssistantMessage) -> JSON:
    return {
        "content": m.content,
        "reasoning": m.reasoning,
        "signature": m.reasoning_signature,
        "calls": [[c.id, c.name, c.arguments] for c in m.tool_calls],
    }


def _usage(u: Usage) -> list[int]:
    """Every count of ``u``, in field order (``Usage(*counts)`` reads it back)."""
    return [getattr(u, f.name) for f in fields(u)]


class _Decoder:
    def __init__(self, blobs: Mapping[str, bytes]) -> None:
        self._blobs = blobs

    def images(self, refs: Iterable[JSON]) -> tuple[Image, ...]:
        return tuple(Image(self._blobs[r["blob"]], r["media_type"], r["source"]) for r in refs)

    def message(self, d: JSON) -> Message:
        role = d["role"]
        if role == "assistant":
            return _assistant_of(d)
        if role == "tool":
            return ToolResultMessage(d["call_id"], d["name"], d["content"], d["is_error"], self.images(d["images"]))
        if role == "user":
            return UserMessage(d["content"], self.images(d["images"]))
        return SystemMessage(d["content"])

    def step(self, d: JSON) -> RecordedStep:
        edit = d["compaction"]
        compaction = (
            None
            if edit is None
            else CompactionEdit(
                edit["head"], edit["tail"], tuple(self.message(m) for m in edit["inserted"]), Usage(*edit["usage"])
            )
        )
        steer = tuple(self.message(m) for m in d["steer"])
        return RecordedStep(_assistant_of(d), Usage(*d["usage"]), StepContext(steer, compaction, d["ceiling"], d["elapsed"]))

    def request(self, d: JSON) -> ResumeRequest:
        return ResumeRequest(
            agent_id=d["agent_id"],
            caller_id=d["caller_id"],
            guild_id=d["guild_id"],
            thread_id=d["thread_id"],
            prompt=d["prompt"],
            images=self.images(d["images"]),
            attachments=tuple(AttachedFile(*a) for a in d["attachments"]),
            session_tools=tuple(d["session_tools"]),
            caller_roles=tuple(d["caller_roles"]),
        )


def _assistant_of(d: JSON) -> AssistantMessage:
    calls = tuple(ToolCall(i, n, a) for i, n, a in d["calls"])
    return AssistantMessage(d["content"], calls, d["reasoning"], d["signature"])


async def load_resumable(tx: Tx, run_ids: Sequence[str]) -> list[ResumableRun]:
    """The runs ``run_ids`` with their requests and records, oldest first;
    a run without a request (or gone) is left out."""
    if not run_ids:
        return []
    among = placeholders(run_ids)
    runs = await tx.fetchall(
        f"SELECT run_id, agent_name, agent_id, progress_message_id, resume FROM runs"
        f" WHERE run_id IN {among} AND resume != '' ORDER BY started_at",
        tuple(run_ids),
    )
    steps = await tx.fetchall(
        f"SELECT run_id, step, replay FROM steps WHERE run_id IN {among} AND replay != ''", tuple(run_ids)
    )
    calls = await tx.fetchall(
        f"SELECT run_id, step, call_id, is_error, replay FROM tool_calls WHERE run_id IN {among} AND replay != ''",
        tuple(run_ids),
    )
    parsed_steps = [(r["run_id"], r["step"], json.loads(r["replay"])) for r in steps]
    parsed_calls = [(r["run_id"], r["step"], r["call_id"], bool(r["is_error"]), json.loads(r["replay"])) for r in calls]
    parsed_runs = [(r, json.loads(r["resume"])) for r in runs]
    digests = _digests(
        [d for *_, d in parsed_steps] + [d for *_, d in parsed_calls] + [d for _, d in parsed_runs]
    )
    decoder = _Decoder(await _blobs(tx, digests))
    drafts = await drafts_of(tx, run_ids)
    out: list[ResumableRun] = []
    for row, request in parsed_runs:
        run_id = row["run_id"]
        mine_steps = {step: decoder.step(d) for rid, step, d in parsed_steps if rid == run_id}
        results = {
            (step, call_id): ToolResult(d["content"], is_error, decoder.images(d["images"]))
            for rid, step, call_id, is_error, d in parsed_calls
            if rid == run_id
        }
        elapsed = max(
            [s.context.elapsed for s in mine_steps.values()]
            + [d["elapsed"] for rid, *_, d in parsed_calls if rid == run_id],
            default=0.0,
        )
        out.append(
            ResumableRun(
                run_id,
                row["agent_name"] or row["agent_id"],
                row["progress_message_id"],
                decoder.request(request),
                RunRecord(mine_steps, results, elapsed),
                drafts.get(run_id, ()),
            )
        )
    return out


async def drafts_of(tx: Tx, run_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The draft messages each of ``run_ids`` posted, oldest first (runs
    with none are left out)."""
    if not run_ids:
        return {}
    rows = await tx.fetchall(
        f"SELECT run_id, data FROM events WHERE run_id IN {placeholders(run_ids)} AND kind = ? ORDER BY id",
        (*run_ids, DRAFT_EVENT),
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["run_id"], []).append(str(json.loads(row["data"])["message_id"]))
    return {run_id: tuple(drafts) for run_id, drafts in found.items()}


def _digests(documents: Iterable[Any]) -> set[str]:
    """Every blob a JSON document names, however deep."""
    found: set[str] = set()
    stack = list(documents)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("blob"), str):
                found.add(item["blob"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


async def _blobs(tx: Tx, digests: set[str]) -> dict[str, bytes]:
    if not digests:
        return {}
    ordered = sorted(digests)
    rows = await tx.fetchall(
        f"SELECT digest, data FROM blobs WHERE digest IN {placeholders(ordered)}", tuple(ordered)
    )
    return {r["digest"]: bytes(r["data"]) for r in rows}
