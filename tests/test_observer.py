"""The RunObserver: /metrics scraped after runs of every status made by the
real bot (Discord emulator, fake OpenAI server, real SQLite), and the
GenAI spans of the same runs recorded by an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from bot.metrics import Metrics
from bot.metrics_server import MetricsServer
from bot.observer import RunObserver
from bot.store import Limit, LimitChange, Store
from bot.tracing import OTelTracer
from executor import Defaults, RunnableAgent, RunStatus
from executor.llm import Usage
from executor.llm.pricing import Price, PriceTable
from executor.llm.scripted import ScriptedModel, call, text
from executor.ports import CriticDecision, Ports
from executor.tools.invocation import Invocation
from tests.bot_harness import ROOT, Harness, running_bot
from tests.executor_kit import make_executor
from tests.fakes.memory_ports import MemoryPalette, ScriptedEscalator
from tests.fakes.model_servers import Reply
from tests.store_helpers import run_info
from tests.test_metrics import scrape, value

HASTY = """
id = "hasty"
name = "Hasty"
description = "Gives up after a second."
system_prompt = "Answer at once."
tier = "fast"
max_runtime = 1

[access]
everyone = true
"""


@pytest.fixture
def spans() -> Iterator[tuple[OTelTracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OTelTracer(provider.get_tracer("test")), exporter
    provider.shutdown()


def agents_dir(tmp_path: Path) -> Path:
    """The shipped agents plus ``hasty``, whose runs time out after a second."""
    folder = tmp_path / "agents"
    folder.mkdir()
    for shipped in (ROOT / "agents").glob("*.toml"):
        (folder / shipped.name).write_text(shipped.read_text())
    (folder / "hasty.toml").write_text(HASTY)
    return folder


async def ask(h: Harness, prompt: str, done: int, agent: str | None = None) -> None:
    options = {"prompt": prompt} | ({"agent": agent} if agent else {})
    await h.emu.send_slash_command("ask", options, user=h.emu.member)
    await h.idle(runs=done)


async def test_metrics_and_spans_after_runs_of_every_status_through_the_bot(
    tmp_path: Path, spans: tuple[OTelTracer, InMemorySpanExporter]
) -> None:
    tracer, exporter = spans
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    # A run left running by this bot's previous process: recovered as interrupted at start.
    async with Store(url, executor_id="bot-1") as before:
        await before.audit.start_run(run_info("left", agent="assistant"))
    metrics = Metrics()
    settings = {"executor_id": "bot-1", "agents_dir": agents_dir(tmp_path), "model_prices": "fake-fast=1000/2000"}
    async with running_bot(tmp_path, metrics=metrics, tracer=tracer, **settings) as h:
        h.model.script(
            Reply.tool_call("calculator", {"expression": "6*7"}),
            Reply.tool_call("made_up_tool_sk-test-secret-key", {"x": 1}),
            Reply.text("It is 42.", usage=Usage(100, 10)),
        )
        await ask(h, "what is 6*7? my secret is hunter2", done=1)
        h.model.script(Reply.error(503, "overloaded"))
        await ask(h, "hello?", done=2)
        h.model.script(Reply.text("too late", delay=30))
        await h.emu.send_slash_command("ask", {"prompt": "take your time"}, user=h.emu.member)
        thread = await h.thread_of(3)
        progress = (await h.bot_messages(thread, 2))[1]
        button = next(c["custom_id"] for row in progress.components for c in row["components"])
        await h.emu.click_button(progress, button, user=h.emu.member)
        await h.idle(runs=3)
        h.model.script(Reply.text("later still", delay=30))
        await ask(h, "slowly", done=4, agent="hasty")
        await h.store.budget.set_limits(str(h.emu.guild.id), str(h.emu.member.user.id), [LimitChange(Limit.RUNS, 0)])
        await ask(h, "one more", done=5)
        async with MetricsServer(metrics, {}, "127.0.0.1", 0) as server:
            body, samples = await scrape(server)

    for status, count in {"ok": 1, "error": 1, "cancelled": 1, "rejected": 1, "interrupted": 1, "timeout": 0}.items():
        assert value(samples, "executus_runs_total", agent="assistant", status=status) == count, status
    assert value(samples, "executus_runs_total", agent="hasty", status="timeout") == 1
    # ok, error and cancelled ran; the refused and the interrupted run have no duration.
    assert value(samples, "executus_run_duration_seconds_count", agent="assistant") == 3
    assert value(samples, "executus_run_duration_seconds_count", agent="hasty") == 1
    # Three answered calls of the first run, none from the 503; the cancelled and timed-out calls never returned.
    assert value(samples, "executus_model_calls_total", model="fake-fast") == 3
    input_tokens = value(samples, "executus_model_tokens_total", model="fake-fast", type="input")
    output_tokens = value(samples, "executus_model_tokens_total", model="fake-fast", type="output")
    assert input_tokens >= 100 and output_tokens >= 10
    assert value(samples, "executus_model_cost_usd_total", model="fake-fast") == pytest.approx(
        (input_tokens * 1000 + output_tokens * 2000) / 1e6, abs=1e-5
    )
    assert value(samples, "executus_tool_calls_total", tool="calculator", outcome="ok") == 1
    assert value(samples, "executus_tool_calls_total", tool="other", outcome="error") == 1
    assert value(samples, "executus_store_write_seconds_count") > 0
    assert value(samples, "executus_runs_in_flight") == 0 and value(samples, "executus_runs_queued") == 0
    for content in ("hunter2", "6*7", "sk-test", "made_up_tool"):
        assert content not in body

    finished = exporter.get_finished_spans()
    runs = [s for s in finished if s.name.startswith("invoke_agent")]
    assert sorted(str(s.attributes["executus.run.status"]) for s in runs) == [
        "cancelled", "error", "ok", "rejected", "timeout",
    ]
    ok_run = next(s for s in runs if s.attributes["executus.run.status"] == "ok")
    children = [s for s in finished if s.parent is not None and s.parent.span_id == ok_run.context.span_id]
    assert sorted(s.name for s in children) == [
        "chat fake-fast", "chat fake-fast", "chat fake-fast",
        "execute_tool calculator", "execute_tool made_up_tool_sk-test-secret-key",
    ]
    assert ok_run.attributes["gen_ai.request.model"] == "fake-fast"
    assert ok_run.attributes["gen_ai.provider.name"] == "openai"
    failed_tool = next(s for s in children if s.name.startswith("execute_tool made_up"))
    assert failed_tool.status.status_code is StatusCode.ERROR
    for span in finished:
        assert "hunter2" not in str(dict(span.attributes or {}))


def by_status(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {str(s.attributes["executus.run.status"]): s for s in spans if s.name.startswith("invoke_agent")}


async def test_a_killed_run_is_counted_and_its_span_failed(
    spans: tuple[OTelTracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = spans
    metrics = Metrics()
    metrics.declare(agents=["boss", "a"], models=["m"], tools=["slow"])
    price = Price(input=Decimal(2), output=Decimal(4))
    observer = RunObserver(metrics, PriceTable({"m": price}), tracer)
    escalator = ScriptedEscalator([CriticDecision("kill", "no progress")])
    model = ScriptedModel([call("slow", seconds=30)], name="acme/m")
    res = await make_executor(
        model, ports=Ports(escalator=escalator, tracer=observer), defaults=Defaults(critic_soft_timeout=0.1)
    ).run(RunnableAgent("a", tools=("slow",), critic=True), Invocation("u"), "x")
    assert res.status is RunStatus.KILLED
    async with MetricsServer(metrics, {}, "127.0.0.1", 0) as server:
        _, samples = await scrape(server)
    assert value(samples, "executus_runs_total", agent="a", status="killed") == 1
    assert value(samples, "executus_model_calls_total", model="m") == 1
    # The slow tool was still running when the run was killed: its call never ended.
    assert ("executus_tool_calls_total", frozenset({("tool", "slow"), ("outcome", "ok")})) not in samples
    killed = by_status(exporter.get_finished_spans())["killed"]
    assert killed.status.status_code is StatusCode.ERROR
    assert killed.attributes["gen_ai.provider.name"] == "acme"


async def test_a_delegated_run_is_counted_under_its_agent_inside_the_tool_call(
    spans: tuple[OTelTracer, InMemorySpanExporter],
) -> None:
    tracer, exporter = spans
    metrics = Metrics()
    metrics.declare(agents=["boss", "writer"], models=["scripted"])
    model = ScriptedModel([call("agent__writer", task="a poem"), text("roses"), text("boss done")])
    ports = Ports(palette=MemoryPalette(agents=[RunnableAgent("writer")]), tracer=RunObserver(metrics, None, tracer))
    res = await make_executor(model, ports=ports).run(RunnableAgent("boss", agents=("writer",)), Invocation("u"), "go")
    assert res.status is RunStatus.OK
    async with MetricsServer(metrics, {}, "127.0.0.1", 0) as server:
        _, samples = await scrape(server)
    assert value(samples, "executus_runs_total", agent="boss", status="ok") == 1
    assert value(samples, "executus_runs_total", agent="writer", status="ok") == 1
    assert value(samples, "executus_model_calls_unpriced_total", model="scripted") == 3
    named = {s.name: s for s in exporter.get_finished_spans()}
    tool, writer = named["execute_tool agent__writer"], named["invoke_agent writer"]
    assert writer.parent is not None and writer.parent.span_id == tool.context.span_id
    assert tool.parent is not None and tool.parent.span_id == named["invoke_agent boss"].context.span_id


async def test_a_follow_up_waiting_for_its_threads_run_is_counted_queued(tmp_path: Path) -> None:
    metrics = Metrics()
    async with running_bot(tmp_path, metrics=metrics) as h, MetricsServer(metrics, {}, "127.0.0.1", 0) as server:
        h.model.script(Reply.text("first", delay=3), Reply.text("second"))
        await h.emu.send_slash_command("ask", {"prompt": "start"}, user=h.emu.member)
        thread = await h.thread_of()
        await h.emu.wait_for(lambda: h.model.requests)
        await h.emu.post_message("and then?", user=h.emu.member, channel=thread)
        await h.emu.wait_for(lambda: h.bot.runner.queued == 1 or None)
        _, samples = await scrape(server)
        assert value(samples, "executus_runs_in_flight") == 1
        assert value(samples, "executus_runs_queued") == 1
        await h.idle(runs=2)
        _, samples = await scrape(server)
        assert value(samples, "executus_runs_queued") == 0
        assert value(samples, "executus_runs_total", agent="assistant", status="ok") == 2
