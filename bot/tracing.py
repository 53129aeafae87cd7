"""OpenTelemetry traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set.

:class:`OTelTracer` implements the executor's tracing port
(``executor/tracing.py``) with spans named and attributed by the GenAI
semantic conventions: ``invoke_agent {agent}``, ``chat {model}`` and
``execute_tool {tool}``, with ``gen_ai.*`` attributes. Spans carry names,
ids, token counts and outcomes; never prompts, answers, tool arguments or
exception messages (``error.type`` is the exception's class or the run's
status).

OpenTelemetry is an extra (``pip install 'executus[otel]'``) and is
imported only by :func:`open_tracing` with an endpoint set, or by building
an :class:`OTelTracer`: a bot without the variable loads none of it.
Other ``OTEL_*`` variables (headers, service name, resource attributes)
are read by the OpenTelemetry SDK from the process environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.store import StoredStatus
from executor import ModelCallSpan, RunSpan, ToolCallSpan
from executor.llm import Usage

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, SpanKind
    from opentelemetry.trace import Tracer as OTelAPITracer

SERVICE_NAME = "executus"
#: Run statuses that mean the run failed (a span in error). A member's
#: cancel and a budget refusal are outcomes, not failures.
FAILED_STATUSES = frozenset(
    {StoredStatus.ERROR, StoredStatus.TIMEOUT, StoredStatus.KILLED, StoredStatus.INTERRUPTED}
)


class OTelTracer:
    """The executor's Tracer over an OpenTelemetry tracer."""

    def __init__(self, tracer: OTelAPITracer) -> None:
        self._tracer = tracer

    @contextmanager
    def invoke_agent(
        self, *, agent_id: str, agent_name: str, run_id: str, provider: str, model: str
    ) -> Iterator[RunSpan]:
        from opentelemetry.trace import SpanKind

        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": agent_id,
            "gen_ai.agent.name": agent_name,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "executus.run.id": run_id,
        }
        with self._span(f"invoke_agent {agent_name}", SpanKind.INTERNAL, attributes) as span:
            yield _RunSpan(span)

    @contextmanager
    def chat(self, *, provider: str, model: str) -> Iterator[ModelCallSpan]:
        from opentelemetry.trace import SpanKind

        attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model}
        with self._span(f"chat {model}", SpanKind.CLIENT, attributes) as span:
            yield _ModelCallSpan(span)

    @contextmanager
    def execute_tool(self, *, tool: str, call_id: str) -> Iterator[ToolCallSpan]:
        from opentelemetry.trace import SpanKind

        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.type": "function",
        }
        with self._span(f"execute_tool {tool}", SpanKind.INTERNAL, attributes) as span:
            yield _ToolCallSpan(span)

    @contextmanager
    def _span(self, name: str, kind: SpanKind, attributes: dict[str, str]) -> Iterator[Span]:
        from opentelemetry.trace import StatusCode

        # The SDK's own exception recording would store the message and the
        # traceback, which can quote a prompt or a URL a member gave.
        with self._tracer.start_as_current_span(
            name, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except asyncio.CancelledError:
                span.set_attribute("error.type", "cancelled")
                raise
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(StatusCode.ERROR)
                raise


@dataclass(frozen=True, slots=True)
class _RunSpan:
    span: Span

    def finish(self, status: str, usage: Usage) -> None:
        from opentelemetry.trace import StatusCode

        _set_usage(self.span, usage)
        self.span.set_attribute("executus.run.status", status)
        if status in FAILED_STATUSES:
            self.span.set_attribute("error.type", status)
            self.span.set_status(StatusCode.ERROR)


@dataclass(frozen=True, slots=True)
class _ModelCallSpan:
    span: Span

    def record(self, usage: Usage) -> None:
        _set_usage(self.span, usage)


@dataclass(frozen=True, slots=True)
class _ToolCallSpan:
    span: Span

    def record(self, ok: bool) -> None:
        from opentelemetry.trace import StatusCode

        if not ok:
            self.span.set_attribute("error.type", "tool_error")
            self.span.set_status(StatusCode.ERROR)


def _set_usage(span: Span, usage: Usage) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)


@dataclass(frozen=True, slots=True)
class Tracing:
    """An exporting tracer provider and the Tracer over it. ``shutdown``
    exports what is still queued; it blocks, so call it off the event loop."""

    provider: TracerProvider
    tracer: OTelTracer

    def shutdown(self) -> None:
        self.provider.shutdown()


class TracingUnavailable(RuntimeError):
    """OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed."""


def open_tracing(endpoint: str | None) -> Tracing | None:
    """Spans batched to ``endpoint`` over OTLP/HTTP, or None (and no
    OpenTelemetry import) when ``endpoint`` is unset.

    ``endpoint`` is the collector's base URL, as OTEL_EXPORTER_OTLP_ENDPOINT
    is everywhere (``http://collector:4318``); spans go to ``<endpoint>/v1/traces``.
    Raises TracingUnavailable, saying what to install, without the extra.
    """
    if not endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise TracingUnavailable(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'executus[otel]', or unset the variable"
        ) from None
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))  # OTEL_SERVICE_NAME still wins
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")))
    return Tracing(provider, OTelTracer(provider.get_tracer("executus")))
