"""Traces: GenAI-convention spans recorded in memory and exported over
OTLP/HTTP to a loopback collector; nothing of OpenTelemetry loaded when
OTEL_EXPORTER_OTLP_ENDPOINT is unset."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bot.tracing import OTelTracer, TracingUnavailable, open_tracing
from executor.llm.types import Usage
from executor.tracing import NO_TRACING, Tracer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def recorded() -> Iterator[tuple[Tracer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer: Tracer = OTelTracer(provider.get_tracer("test"))  # the executor's port, implemented
    yield tracer, exporter
    provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def run_a_traced_agent(tracer: Tracer) -> None:
    """What the executor's run path does: a run, two model calls, two tool calls."""
    with tracer.invoke_agent(
        agent_id="analyst", agent_name="Analyst", run_id="run-1", provider="openai", model="gpt-4o"
    ) as run:
        with tracer.chat(provider="openai", model="gpt-4o") as call:
            call.record(Usage(input_tokens=120, output_tokens=30))
        with tracer.execute_tool(tool="calculator", call_id="call-1") as tool:
            tool.record(ok=True)
        with tracer.execute_tool(tool="fetch_url", call_id="call-2") as tool:
            tool.record(ok=False)
        with tracer.chat(provider="openai", model="gpt-4o") as call:
            call.record(Usage(input_tokens=200, output_tokens=12))
        run.finish("ok", Usage(input_tokens=320, output_tokens=42))


def test_spans_follow_the_genai_conventions(recorded: tuple[Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = recorded
    run_a_traced_agent(tracer)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == [
        "chat gpt-4o", "execute_tool calculator", "execute_tool fetch_url", "chat gpt-4o", "invoke_agent Analyst",
    ]
    named = by_name(spans)
    agent, calculator, fetch = named["invoke_agent Analyst"], named["execute_tool calculator"], named["execute_tool fetch_url"]
    assert dict(agent.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.id": "analyst",
        "gen_ai.agent.name": "Analyst",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "executus.run.id": "run-1",
        "executus.run.status": "ok",
        "gen_ai.usage.input_tokens": 320,
        "gen_ai.usage.output_tokens": 42,
    }
    assert agent.kind is SpanKind.INTERNAL and agent.status.status_code is StatusCode.UNSET
    first_chat = spans[0]
    assert dict(first_chat.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
    }
    assert first_chat.kind is SpanKind.CLIENT
    assert dict(calculator.attributes or {}) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "calculator",
        "gen_ai.tool.call.id": "call-1",
        "gen_ai.tool.type": "function",
    }
    assert calculator.status.status_code is StatusCode.UNSET
    assert (fetch.attributes or {})["error.type"] == "tool_error" and fetch.status.status_code is StatusCode.ERROR
    # One trace: every model and tool span is a child of the run's.
    assert agent.parent is None and agent.context is not None
    for span in spans[:-1]:
        assert span.parent is not None and span.parent.span_id == agent.context.span_id


@pytest.mark.parametrize(
    ("status", "failed"),
    [("ok", False), ("cancelled", False), ("rejected", False), ("error", True), ("timeout", True), ("killed", True),
     ("interrupted", True)],
)
def test_a_run_span_is_in_error_when_the_run_failed(
    recorded: tuple[Tracer, InMemorySpanExporter], status: str, failed: bool
) -> None:
    tracer, exporter = recorded
    with tracer.invoke_agent(agent_id="a", agent_name="A", run_id="r", provider="openai", model="m") as run:
        run.finish(status, Usage())
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["executus.run.status"] == status
    assert (span.status.status_code is StatusCode.ERROR) is failed
    assert (span.attributes or {}).get("error.type") == (status if failed else None)


def test_an_exception_marks_the_span_by_class_only(recorded: tuple[Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = recorded
    with pytest.raises(ConnectionError):
        with tracer.chat(provider="openai", model="gpt-4o"):
            raise ConnectionError("POST https://api.example/v1 with prompt 'my secret plan' failed")
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["error.type"] == "ConnectionError"
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()  # no exception event: its message could quote a prompt
    assert "secret plan" not in json.dumps(dict(span.attributes or {})) + str(span.status.description)


async def test_cancellation_is_not_an_error(recorded: tuple[Tracer, InMemorySpanExporter]) -> None:
    tracer, exporter = recorded

    async def tool_call() -> None:
        with tracer.execute_tool(tool="fetch_url", call_id="c"):
            await asyncio.Event().wait()

    task = asyncio.create_task(tool_call())
    await asyncio.sleep(0)  # let it open its span
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (span,) = exporter.get_finished_spans()
    assert (span.attributes or {})["error.type"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET


def test_no_tracing_is_a_tracer_that_records_nothing() -> None:
    run_a_traced_agent(NO_TRACING)
    with pytest.raises(KeyError):  # exceptions pass through untouched
        with NO_TRACING.chat(provider="openai", model="m"):
            raise KeyError("x")


# ------------------------------------------------------------ the real export


async def test_spans_reach_an_otlp_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    received: list[tuple[str, bytes]] = []

    async def collect(request: web.Request) -> web.Response:
        received.append((request.path, await request.read()))
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        tracing = open_tracing(f"http://127.0.0.1:{runner.addresses[0][1]}/")
        assert tracing is not None
        run_a_traced_agent(tracing.tracer)
        await asyncio.to_thread(tracing.shutdown)  # exports the batch; blocking, so off the loop
    finally:
        await runner.cleanup()
    assert [path for path, _ in received] == ["/v1/traces"]
    request = ExportTraceServiceRequest.FromString(received[0][1])
    (resource_spans,) = request.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "executus"
    names = [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    assert sorted(names) == sorted(
        ["chat gpt-4o", "execute_tool calculator", "execute_tool fetch_url", "chat gpt-4o", "invoke_agent Analyst"]
    )


def test_no_endpoint_no_tracing() -> None:
    assert open_tracing(None) is None and open_tracing("") is None


def test_an_endpoint_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(TracingUnavailable, match=r"pip install 'executus\[otel\]'"):
        open_tracing("http://127.0.0.1:4318")


NOTHING_LOADED = """
import pkgutil, sys, importlib, json
import bot, cogs, executor
from bot.config import load_settings
from bot.tracing import open_tracing

modules = [m.name for p in (bot, cogs, executor) for m in pkgutil.walk_packages(p.__path__, p.__name__ + ".")]
for name in modules:
    importlib.import_module(name)
settings = load_settings(_env_file=None)
assert open_tracing(settings.otel_exporter_otlp_endpoint) is None
before = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
open_tracing("http://127.0.0.1:9")  # the check itself: set up with an endpoint, it is loaded
after = any(m.split(".")[0] == "opentelemetry" for m in sys.modules)
print(json.dumps({"imported": len(modules), "before": before, "after": after}))
"""


def test_nothing_of_opentelemetry_is_loaded_without_the_endpoint() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", NOTHING_LOADED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.splitlines()[-1])
    assert seen["imported"] > 50  # every module of bot, cogs and executor
    assert seen["before"] == []
    assert seen["after"] is True
