"""Approval gates and tool sources in the executor, with in-memory ports."""

from __future__ import annotations

import asyncio

from executor import ApprovalDecision, ApprovalPolicy, ApprovalRequest, Ports, RunnableAgent, RunStatus
from executor.llm.scripted import ScriptedModel, call, text
from executor.tools import Invocation, StepEvent, Tool
from tests.executor_kit import ECHO, make_executor
from executor.llm.types import ToolCall
from executor.state import RunState
from executor.tools.registry import Toolbox
from tests.fakes.memory_ports import MemoryPalette, RecordingAudit


class SlowApprover:
    """Approves every call after ``seconds``, recording what it was asked."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.asked: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        self.asked.append(request)
        await asyncio.sleep(self.seconds)
        return ApprovalDecision(True, by="mod-1", reason="approved")


class OneTool:
    """A ToolSource offering ``tool`` to agents that name its source."""

    def __init__(self, tool: Tool) -> None:
        self.tool = tool

    async def tools(self, agent: RunnableAgent, invocation: Invocation) -> list[Tool]:
        return [self.tool] if "src" in agent.external_tools else []


async def test_waiting_for_approval_is_not_the_runs_working_time() -> None:
    approver, audit = SlowApprover(0.6), RecordingAudit()
    model = ScriptedModel([call("echo", text="hi"), text("done")])
    executor = make_executor(model, ports=Ports(audit=audit, approver=approver))
    agent = RunnableAgent("a", tools=("echo",), max_runtime=0.3, approval=ApprovalPolicy(frozenset({"echo"}), ("role:Mods",)))
    seen: list[StepEvent] = []
    result = await executor.run(agent, Invocation("member-1", channel_id="thread-1", on_step=seen.append), "go")
    # The host is told the run waits for a person, and when it stops waiting.
    shown = [(e.kind, e.tool, e.is_error) for e in seen if e.kind != "model"]
    assert shown == [
        ("tool_start", "echo", False),
        ("approval_wait", "echo", False),
        ("approval_end", "echo", False),
        ("tool_end", "echo", False),
    ]
    assert result.status is RunStatus.OK, result.err
    assert result.steps[0].result == "echo:hi"
    # Nor what it reports and charges: the member's runtime budget pays for work, not for a moderator's pause.
    assert result.runtime_seconds < approver.seconds
    (asked,) = approver.asked
    assert (asked.tool, asked.by, asked.channel_id, asked.caller_id) == ("echo", ("role:Mods",), "thread-1", "member-1")
    kinds = [kind for kind, _ in audit.only().events]
    assert kinds == ["approval_requested", "approval_decided"]


async def test_without_an_approver_a_gated_call_is_refused_and_others_run() -> None:
    model = ScriptedModel([call("echo", text="hi"), call("src__echo", text="there"), text("done")])
    source_echo = Tool("src__echo", "Echo from a source.", ECHO.handler, ECHO.parameters)
    executor = make_executor(model, ports=Ports(tools=OneTool(source_echo)))
    agent = RunnableAgent(
        "a", tools=("echo",), external_tools={"src": ("echo",)}, approval=ApprovalPolicy(frozenset({"echo"}))
    )
    seen: list[StepEvent] = []
    result = await executor.run(agent, Invocation("member-1", on_step=seen.append), "go")
    assert result.status is RunStatus.OK
    assert [(e.kind, e.is_error) for e in seen if e.kind.startswith("approval")] == [
        ("approval_wait", False),
        ("approval_end", True),  # not approved
    ]
    refused, ran = result.steps
    assert refused.is_error and "echo was not run: it needs approval and nobody can approve" in refused.result
    assert ran.tool == "src__echo" and ran.result == "echo:there"
    assert [t.name for t in model.requests[0].tools] == ["echo", "src__echo"]


async def test_a_parent_waits_out_its_sub_agents_approval_without_running_out_of_time() -> None:
    # The sub-agent's wait for a person stops the delegating parent's clocks
    # too: neither times out while a moderator decides.
    approver = SlowApprover(0.6)
    gated = RunnableAgent(
        "gated", tools=("echo",), max_runtime=0.3, approval=ApprovalPolicy(frozenset({"echo"}), ("role:Mods",))
    )
    model = ScriptedModel([call("agent__gated", task="echo it"), call("echo", text="hi"), text("echoed"), text("done")])
    executor = make_executor(model, ports=Ports(approver=approver, palette=MemoryPalette(agents=[gated])))
    parent = RunnableAgent("boss", agents=("gated",), max_runtime=0.3)
    result = await executor.run(parent, Invocation("member-1", channel_id="thread-1"), "go")
    assert result.status is RunStatus.OK, result.err
    assert (result.output, result.steps[0].result) == ("done", "echoed")
    assert len(approver.asked) == 1 and result.runtime_seconds < approver.seconds


async def test_a_tools_timeout_does_not_count_the_runs_waits_for_people() -> None:
    # A delegation tool's handler waits while its sub-run waits for an
    # approval: that wait pauses the delegating run (on_wait), and the tool's
    # timeout, like the run's time limit, stands still meanwhile.
    state = RunState("r", 5, 60.0)

    async def waits_for_a_person(inv: Invocation, args: dict[str, object]) -> str:
        state.wait_started()
        await asyncio.sleep(0.5)
        state.wait_ended()
        return "decided"

    box = Toolbox(Invocation("u", run_state=state))
    box.add(Tool("sub", "A sub-run.", waits_for_a_person, {"type": "object", "properties": {}}, timeout=0.2))
    result = await box.call(ToolCall("c1", "sub", "{}"))
    assert (result.content, result.is_error) == ("decided", False)
