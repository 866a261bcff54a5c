"""OpenTelemetry set-up from the standard OTEL_* variables, and trace-context helpers.

Spans carry ids only (referral id, event id, topic), never personal data.
"""

from __future__ import annotations

import os

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def configure(service_name: str, processor: SpanProcessor | None = None) -> TracerProvider:
    """Install the process's tracer provider once; OTEL_SERVICE_NAME overrides the name.

    Exporters follow OTEL_TRACES_EXPORTER (otlp, zipkin, console, none; comma-separated).
    When it is unset, spans are exported over OTLP if an OTLP endpoint is configured, else
    to Zipkin if OTEL_EXPORTER_ZIPKIN_ENDPOINT is set, else nowhere, so a laptop run does
    not spam connection errors; context still propagates either way.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if processor is not None:
            current.add_span_processor(processor)
        return current
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if processor is not None:
        provider.add_span_processor(processor)
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true":
        for exporter in _exporters():
            provider.add_span_processor(exporter)
    trace.set_tracer_provider(provider)
    return provider


def _exporters() -> list[SpanProcessor]:
    wanted = os.environ.get("OTEL_TRACES_EXPORTER")
    if wanted is None:
        has_endpoint = any(
            os.environ.get(v)
            for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
        if has_endpoint:
            wanted = "otlp"
        else:
            wanted = "zipkin" if os.environ.get("OTEL_EXPORTER_ZIPKIN_ENDPOINT") else "none"
    processors: list[SpanProcessor] = []
    for kind in (w.strip() for w in wanted.split(",")):
        if kind == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        elif kind == "zipkin":
            # Zipkin's own v2 JSON API (deploy/zipkin.sh); the exporter reads
            # OTEL_EXPORTER_ZIPKIN_ENDPOINT (default http://localhost:9411/api/v2/spans).
            from opentelemetry.exporter.zipkin.json import ZipkinExporter

            processors.append(BatchSpanProcessor(ZipkinExporter()))
        elif kind == "console":
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
    return processors


def shutdown() -> None:
    """Flush and stop exporters (call on graceful exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def tracer(name: str) -> trace.Tracer:
    """A tracer for one of our components."""
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, if any."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> Context:
    """A context whose parent is the given traceparent (or the current one if None)."""
    if not traceparent:
        return otel_context.get_current()
    return _PROPAGATOR.extract({"traceparent": traceparent})


def extract(headers: dict[str, str]) -> Context:
    """Context from incoming HTTP headers."""
    return _PROPAGATOR.extract(headers)


def span_context_of(traceparent: str) -> trace.SpanContext:
    """The remote span a W3C traceparent names (invalid when it is malformed)."""
    return trace.get_current_span(context_from(traceparent)).get_span_context()
