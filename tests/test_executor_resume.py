"""A run resumed from its record (``Executor.run(..., resume=RunRecord)``):
recorded model responses and tool results are replayed, not made again; a
tool cut off mid-call runs again, alone; the transcript is the one the run
had, compaction included; no second budget check; its time limit counts the
time it had used."""

from __future__ import annotations

from collections import Counter
from typing import Any

from executor import Ports, RecordedStep, RunnableAgent, RunRecord, SummaryCompactor
from executor.compact import SUMMARY_PROMPT
from executor.llm import Message, ModelResponse, UserMessage
from executor.llm.scripted import ScriptedModel, call, calls, text, tool_call
from executor.tools.base import Tool
from executor.tools.invocation import Invocation
from tests.executor_kit import SLOW, finishes, make_executor
from tests.fakes.memory_ports import RecordedRun, RecordingAudit, RecordingBudget

AGENT = RunnableAgent("helper", tools=("echo", "slow"))


def counted_echo(ran: Counter[str]) -> Tool:
    async def echo(_inv: Invocation, args: dict[str, Any]) -> str:
        ran[args["text"]] += 1
        return f"echo:{args['text']}"

    return Tool("echo", "Echo text back.", echo, {"type": "object", "properties": {"text": {"type": "string"}}})


def record_of(run: RecordedRun, steps: int, results: int, elapsed: float = 0.0) -> RunRecord:
    """What a process that died would have left: the first ``steps`` steps
    and the first ``results`` tool results the run recorded."""
    recorded = {i: RecordedStep(m, u, run.contexts[n]) for n, (i, m, u) in enumerate(run.steps[:steps])}
    return RunRecord(recorded, {(i, c.id): r for i, c, r in run.tools[:results]}, elapsed)


def script() -> list[Any]:
    return [
        call("echo", text="a"),
        calls(tool_call("echo", {"text": "b"}), tool_call("echo", {"text": "c"})),
        text("done"),
    ]


async def test_a_resumed_run_replays_its_record_and_runs_only_what_was_cut_off() -> None:
    full = script()
    ran: Counter[str] = Counter()
    audit = RecordingAudit()
    reference_model = ScriptedModel(full)
    reference = await make_executor(reference_model, tools=(counted_echo(ran), SLOW), ports=Ports(audit=audit)).run(
        AGENT, Invocation("u1", run_id="r1"), "go"
    )
    assert reference.output == "done" and ran == Counter(a=1, b=1, c=1)
    original = audit.only()
    # Cut off while the second turn's tools ran: "b" had returned, "c" had not.
    record = record_of(original, steps=2, results=2, elapsed=1.5)

    ran.clear()
    model = ScriptedModel([full[-1]])  # only the answer is left to ask for
    budget = RecordingBudget()
    audit = RecordingAudit()
    audit.runs["r1"] = resumed = RecordedRun(original.info)
    executor = make_executor(model, tools=(counted_echo(ran), SLOW), ports=Ports(audit=audit, budget=budget))
    result = await executor.run(AGENT, Invocation("u1", run_id="r1"), "go", resume=record)

    assert result.output == "done" and result.err is None
    assert ran == Counter(c=1)  # the cut-off call ran again, and only it
    assert len(model.requests) == 1  # no recorded response asked for again
    assert model.requests[0].messages == reference_model.requests[-1].messages
    assert result.transcript == reference.transcript
    assert result.usage == reference.usage  # every recorded response counts, once
    assert budget.checks == [] and [rid for rid, _ in budget.commits] == ["r1"]  # its reservation stood
    assert resumed.steps == [] and [c.arguments for _, c, _ in resumed.tools] == ['{"text": "c"}']
    assert result.runtime_seconds >= 1.5  # the time used before the restart counts
    assert [s.index for s in result.steps] == [0, 1, 1]


async def test_a_resumed_runs_time_limit_counts_the_time_it_had_used() -> None:
    agent = RunnableAgent("helper", tools=("slow",), max_runtime=30)
    model = ScriptedModel([call("slow", seconds=60)])
    audit = RecordingAudit()
    audit.runs["r2"] = RecordedRun(info=None)  # type: ignore[arg-type]
    executor = make_executor(model, ports=Ports(audit=audit))
    result = await finishes(
        executor.run(agent, Invocation("u1", run_id="r2"), "go", resume=RunRecord(elapsed=29.8)), within=5
    )
    assert result.status.value == "timeout"
    assert result.runtime_seconds >= 29.8


class Summarising:
    """A scripted model that answers every summary request with a summary
    and everything else from ``script``."""

    def __init__(self, script: list[Any]) -> None:
        self.model = ScriptedModel([self.answer], repeat_last=True)
        self.script = script

    def answer(self, messages: list[Message], tools: Any) -> ModelResponse:
        last = messages[-1]
        if isinstance(last, UserMessage) and last.content == SUMMARY_PROMPT:
            return text("summary of it")
        return self.script.pop(0)


async def test_a_recorded_compaction_is_replayed_without_asking_the_model_again() -> None:
    long = "x" * 1200
    ran: Counter[str] = Counter()
    audit = RecordingAudit()
    options: dict[str, Any] = {"compactor": SummaryCompactor(keep_ratio=0.3), "context_tokens": lambda tier: 400}
    reference_model = Summarising([call("echo", text=long), call("echo", text="short"), text("done")])
    reference = await make_executor(
        reference_model.model, tools=(counted_echo(ran), SLOW), ports=Ports(audit=audit), **options
    ).run(AGENT, Invocation("u1", run_id="r3"), "go")
    original = audit.only()
    assert reference.output == "done"
    assert original.contexts[1].compaction is not None  # compacted before the second turn

    # The run died after the second turn's tool returned: its compaction is replayed, not asked for again.
    record = record_of(original, steps=2, results=2)
    model = Summarising([text("done")])
    audit = RecordingAudit()
    audit.runs["r3"] = RecordedRun(original.info)
    result = await make_executor(model.model, tools=(counted_echo(ran), SLOW), ports=Ports(audit=audit), **options).run(
        AGENT, Invocation("u1", run_id="r3"), "go", resume=record
    )
    assert result.output == "done"
    assert result.transcript == reference.transcript
    assert result.usage == reference.usage  # the summary's tokens counted once, from the record
    asked = [r.messages for r in model.model.requests if r.messages[-1] != UserMessage(SUMMARY_PROMPT)]
    assert len(asked) == 1  # the answer, and no turn made before
    assert asked[0] == reference_model.model.requests[-1].messages
