"""RunService, the host's Discord-free side of a run: the Invocation is built
once with the caller's run id, step observer and the thread's history; the
new turns are stored; a run in flight can be cancelled by its member."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bot.run_service import RunRequest, RunService
from executor.llm.scripted import ScriptedModel, call, text
from executor.llm.types import AssistantMessage, Message, UserMessage
from executor.run import RunnableAgent, RunStatus
from executor.tools.invocation import StepEvent
from tests.executor_kit import finishes, make_executor

AGENT = RunnableAgent("helper", tools=("echo", "slow"))


class MemoryConversations:
    def __init__(self, history: Sequence[Message] = ()) -> None:
        self.history = list(history)
        self.appended: list[tuple[str, list[Message], str]] = []

    async def load(self, thread_id: str, max_tokens: int) -> list[Message]:
        return list(self.history)

    async def append(self, thread_id: str, messages: Sequence[Message], run_id: str) -> None:
        self.appended.append((thread_id, list(messages), run_id))

    async def drop_images(self, thread_id: str, note: str) -> None:
        raise AssertionError("no image was refused")


def service(model: ScriptedModel, conversations: MemoryConversations) -> RunService:
    return RunService(make_executor(model), conversations, lambda tier: 32_000)


async def test_a_run_is_built_whole_and_its_new_turns_are_stored() -> None:
    earlier = [UserMessage("Capital of France?"), AssistantMessage("Paris.")]
    conversations = MemoryConversations(earlier)
    model = ScriptedModel([call("echo", text="hi"), text("About two million.")])
    request = RunRequest(AGENT, "u1", "g1", "t1", "And its population?")
    steps: list[StepEvent] = []

    result = await service(model, conversations).run(request, steps.append)

    assert result.status is RunStatus.OK and result.run_id == request.run_id
    assert [e.kind for e in steps] == ["model", "tool_start", "tool_end", "model"]
    sent = model.requests[0].messages
    assert [m.content for m in sent[-3:]] == ["Capital of France?", "Paris.", "And its population?"]
    [(thread, turns, run_id)] = conversations.appended
    assert (thread, run_id) == ("t1", request.run_id)
    assert turns[0] == UserMessage("And its population?") and turns[-1].content == "About two million."


async def test_a_run_in_flight_is_cancelled_by_its_member_only() -> None:
    runs = service(ScriptedModel([call("slow", seconds=30)]), MemoryConversations())
    request = RunRequest(AGENT, "42", "g1", "t1", "take your time")
    started = asyncio.Event()
    task = asyncio.create_task(runs.run(request, lambda event: started.set()))
    await finishes(started.wait())
    [active] = runs.runs_in_thread("t1")
    assert (active.run_id, active.caller_id, runs.in_flight) == (request.run_id, "42", 1)
    assert "Only the member who started" in runs.cancel(request.run_id, 7, is_admin=False)
    assert runs.cancel(request.run_id, 42, is_admin=False).startswith("Cancelling run")
    result = await finishes(task)
    assert result.status is RunStatus.CANCELLED and "cancelled by <@42>" in str(result.err)
    assert runs.in_flight == 0 and "not running any more" in runs.cancel(request.run_id, 42, is_admin=True)


async def test_a_run_asked_for_during_shutdown_ends_cancelled() -> None:
    runs = service(ScriptedModel([text("never")], delay=30), MemoryConversations())
    await runs.shutdown()
    result = await finishes(runs.run(RunRequest(AGENT, "u1", "g1", "t1", "hello")))
    assert result.status is RunStatus.CANCELLED and "shutting down" in str(result.err)
