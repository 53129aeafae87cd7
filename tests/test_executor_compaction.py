"""Compaction: threshold, tool-call/result pairs kept together, audit event."""

from __future__ import annotations

from executor import RunnableAgent, RunStatus
from executor.compact import SUMMARY_PREFIX, SummaryCompactor, safe_cut
from executor.llm.model import ModelResponse
from executor.llm.scripted import ScriptedModel, call, text
from executor.llm.types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
    estimate_tokens,
)
from executor.ports import Ports
from executor.tools.invocation import Invocation
from tests.executor_kit import make_executor
from tests.fakes.memory_ports import RecordingAudit, RecordingBudget


def no_orphans(messages: list[Message]) -> bool:
    """Every tool result follows the assistant message that called it."""
    open_calls: set[str] = set()
    for m in messages:
        if isinstance(m, AssistantMessage):
            open_calls = {c.id for c in m.tool_calls}
        elif isinstance(m, ToolResultMessage):
            if m.call_id not in open_calls:
                return False
        else:
            open_calls = set()
    return True


async def test_compaction_fires_at_threshold_and_is_audited() -> None:
    audit, budget = RecordingAudit(), RecordingBudget()
    big = "x" * 400  # ~100 tokens a call, ~100 a result
    done: list[int] = []

    def reply(messages: list[Message], tools: list[ToolSpec]) -> ModelResponse:
        if not tools and messages[-1].content.startswith("Summarise"):
            return text("summary of the work so far")
        if len(done) < 6:
            done.append(1)
            return call("echo", text=big + str(len(done)))
        return text("final")

    model = ScriptedModel([reply], repeat_last=True)
    ex = make_executor(
        model,
        ports=Ports(audit=audit, budget=budget),
        compactor=SummaryCompactor(keep_ratio=0.5),
        context_tokens=lambda tier: 1000,  # threshold 700 tokens
    )
    res = await ex.run(RunnableAgent("a", tools=("echo",), max_iterations=20), Invocation("u"), "go")
    assert res.status is RunStatus.OK and res.output == "final"
    events = [d for k, d in audit.only().events if k == "compaction_fired"]
    assert len(events) == 1
    ev = events[0]
    assert ev["messages_after"] < ev["messages_before"] and ev["tokens_after"] < ev["tokens_before"]
    assert ev["tokens_before"] >= 700
    summaries = [i for i, r in enumerate(model.requests) if not r.tools]
    assert len(summaries) == 1 and "Summarise" in model.requests[summaries[0]].messages[-1].content
    after = model.requests[summaries[0] + 1].messages
    assert estimate_tokens(model.requests[summaries[0] - 1].messages) < 700 + 250
    assert any(isinstance(m, UserMessage) and m.content.startswith(SUMMARY_PREFIX) for m in after)
    assert no_orphans(after)
    # The summary is a model call like the others: every call is charged, 8 calls 8 times.
    calls_made = len(model.requests)
    assert calls_made == 8
    assert res.usage == Usage(10 * calls_made, 5 * calls_made, requests=calls_made)
    assert audit.only().closes[0].usage == res.usage
    assert [s.usage for _, s in budget.commits] == [res.usage]
    assert (ev["input_tokens"], ev["output_tokens"]) == (10, 5)


async def test_no_compaction_below_threshold_or_without_context_size() -> None:
    for ctx in (lambda t: 1_000_000, lambda t: 0):
        audit = RecordingAudit()
        model = ScriptedModel([call("echo", text="x" * 400), text("ok")])
        ex = make_executor(model, ports=Ports(audit=audit), compactor=SummaryCompactor(), context_tokens=ctx)
        await ex.run(RunnableAgent("a", tools=("echo",)), Invocation("u"), "go")
        assert audit.only().events == [] and len(model.requests) == 2


def test_cut_never_splits_a_tool_call_from_its_result() -> None:
    msgs: list[Message] = [SystemMessage("s"), UserMessage("q")]
    for i in range(5):
        msgs.append(AssistantMessage("", (call("echo", text=str(i)).message.tool_calls[0],)))
        msgs.append(ToolResultMessage(msgs[-1].tool_calls[0].id, "echo", "r" * 200))  # type: ignore[union-attr]
    for keep in range(0, estimate_tokens(msgs) + 10, 7):
        cut = safe_cut(msgs, 1, keep)
        assert not isinstance(msgs[cut], ToolResultMessage)
        assert no_orphans(msgs[cut:])


async def test_failed_summary_still_compacts_without_losing_the_run() -> None:
    msgs: list[Message] = [SystemMessage("s")] + [UserMessage("u" * 400), AssistantMessage("a" * 400)] * 4
    model = ScriptedModel([RuntimeError("summary failed")])
    out = await SummaryCompactor().compact(msgs, model, threshold=300)
    assert out[0] == msgs[0] and len(out) < len(msgs)
    assert "removed" in out[1].content


async def test_nothing_to_cut_returns_the_same_list() -> None:
    msgs: list[Message] = [SystemMessage("s"), UserMessage("u" * 4000)]
    out = await SummaryCompactor().compact(msgs, ScriptedModel([]), threshold=10)
    assert out is msgs
