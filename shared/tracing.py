"""OpenTelemetry traces: one TracerProvider per service, spans across HTTP and Kafka, and the W3C
trace context carried through the outbox and the notifier's stored notifications, so one trace runs
from the police POST to the SMS.

Each service owns its provider (the tests run the four services in one process, and the global
provider can be set only once); it is handed explicitly to FastStream's telemetry middleware, to
the FastAPI instrumentation, and to the outbox relay.

No personal data leaves in a span: every exporter sits behind `Scrubbed`, which keeps only
allow-listed attributes (method, route template, status, topic, partition, offset…), the type of
an exception and never its message, and no status description. The Kafka key of a referral is its
case reference, so FastStream's `messaging.kafka.message.key` is never recorded either.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from faststream.kafka.opentelemetry.provider import (
    KafkaTelemetrySettingsProvider,
    telemetry_attributes_provider_factory,
)
from faststream.kafka.response import KafkaPublishCommand
from faststream.opentelemetry import TelemetryMiddleware
from faststream.opentelemetry.provider import TelemetrySettingsProvider
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, NoOpTracer, Span, SpanKind, Status, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

# W3C trace context only: baggage would carry whatever an upstream caller put in it.
PROPAGATOR = TraceContextTextMapPropagator()
TRACE_HEADERS = ("traceparent", "tracestate")
KAFKA_KEY_ATTRIBUTES = frozenset({"messaging.kafka.message.key", "messaging.kafka.message_key"})

# Attributes that may leave the process. Everything else (raw paths and URLs with their query
# strings, client addresses, Kafka keys, anything a future library version adds) is dropped.
ALLOWED_ATTRIBUTES = frozenset(
    {
        "http.method",
        "http.request.method",
        "http.route",
        "http.status_code",
        "http.response.status_code",
        "http.scheme",
        "url.scheme",
        "http.flavor",
        "network.protocol.version",
        "net.host.port",
        "server.port",
        "messaging.system",
        "messaging.operation",
        "messaging.destination.name",
        "messaging.destination_publish.name",
        "messaging.message.id",
        "messaging.message.conversation_id",  # the correlation id: opaque, already in every log
        "messaging.message.payload_size_bytes",
        "messaging.kafka.destination.partition",
        "messaging.kafka.message.offset",
        "messaging.batch.message_count",
        "error.type",
    }
)
OWN_ATTRIBUTE_PREFIX = "safeguarding."  # ours: chosen to be free of personal data


def _allowed(key: str) -> bool:
    return key in ALLOWED_ATTRIBUTES or key.startswith(OWN_ATTRIBUTE_PREFIX)


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    """A copy of `span` with only allow-listed attributes, exception events reduced to the
    exception's type (a message or stack trace can quote input values) and no status text."""
    attributes = {k: v for k, v in (span.attributes or {}).items() if _allowed(k)}
    events = [
        Event(
            event.name,
            {k: v for k, v in (event.attributes or {}).items() if k == "exception.type"},
            event.timestamp,
        )
        for event in span.events
        if event.name == "exception"  # the only event our libraries record
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class Scrubbed(SpanProcessor):
    """Hands `inner` (an exporting processor) only scrubbed copies of finished spans."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        pass  # exporting processors act on finished spans only

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(scrubbed(span))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _KeylessKafkaAttributes(KafkaTelemetrySettingsProvider):
    """FastStream's Kafka span attributes without the record's key: a referral's key is its case
    reference, which is pseudonymous but must not leave through traces. (Scrubbed drops it too;
    this keeps it out of the live span, which other processors could see.)"""

    def get_publish_attrs_from_cmd(self, cmd: KafkaPublishCommand) -> dict[str, Any]:
        attrs = super().get_publish_attrs_from_cmd(cmd)
        return {k: v for k, v in attrs.items() if k not in KAFKA_KEY_ATTRIBUTES}

    def get_consume_attrs_from_message(self, msg: Any) -> dict[str, Any]:
        attrs = super().get_consume_attrs_from_message(msg)
        return {k: v for k, v in attrs.items() if k not in KAFKA_KEY_ATTRIBUTES}


def _keyless_provider(msg: Any) -> TelemetrySettingsProvider[Any, KafkaPublishCommand]:
    provider = telemetry_attributes_provider_factory(msg)
    if isinstance(provider, KafkaTelemetrySettingsProvider):  # a single record (batches: no key)
        return _KeylessKafkaAttributes()
    return provider


class KafkaTracing(TelemetryMiddleware[KafkaPublishCommand]):
    """FastStream's KafkaTelemetryMiddleware with the keyless attributes above."""

    def __init__(self, tracer_provider: trace.TracerProvider) -> None:
        super().__init__(
            settings_provider_factory=_keyless_provider,
            tracer_provider=tracer_provider,
            include_messages_counters=False,  # metrics come from Prometheus (shared/metrics.py)
        )


class RecordWhenExported(Sampler):
    """Spans are recorded only once something receives them (an exporter, a test's in-memory
    processor). Otherwise every span is a non-recording one: it still has its trace and span id,
    which log lines carry and Kafka headers and the outbox propagate, but no attributes, events or
    timings are kept. Measured here: a recorded span costs about 2.5 times an unrecorded one, and
    a contact makes about 50 (bench `--observability`)."""

    def __init__(self) -> None:
        self.exporting = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if self.exporting else Decision.DROP
        return SamplingResult(decision, attributes if self.exporting else None)

    def get_description(self) -> str:
        return "RecordWhenExported"


class Tracing:
    """One service's tracing: its provider (None when tracing is off) and tracer."""

    def __init__(
        self,
        service: str,
        provider: TracerProvider | None,
        sampler: RecordWhenExported | None = None,
    ) -> None:
        self.service = service
        self.provider = provider
        self.sampler = sampler
        self.tracer: Tracer = provider.get_tracer("safeguarding") if provider else NoOpTracer()

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """Add an exporting processor (scrubbed like every other). Tests add an in-memory one."""
        if self.provider is not None:
            self.provider.add_span_processor(Scrubbed(processor))
            if self.sampler is not None:
                self.sampler.exporting = True

    def broker_middlewares(self) -> list[Callable[..., Any]]:
        return [KafkaTracing(self.provider)] if self.provider is not None else []

    def instrument(self, http_app: FastAPI) -> None:
        """Server spans named by route template ("POST /v1/contacts"), never by raw path; health
        and metrics polls are not traced; no per-message receive/send spans."""
        if self.provider is None:
            return
        FastAPIInstrumentor.instrument_app(
            http_app,
            tracer_provider=self.provider,
            excluded_urls="/healthz,/readyz,/metrics",
            exclude_spans=["receive", "send"],
        )

    @contextmanager
    def span(
        self,
        name: str,
        parent: str | None,
        attributes: Mapping[str, str | int | bool] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Iterator[Span]:
        """A current span whose parent is the stored context `parent` (a new trace without)."""
        with self.tracer.start_as_current_span(
            name, context=context_from(parent), kind=kind, attributes=dict(attributes or {})
        ) as span:
            yield span

    def shutdown(self) -> None:
        """Flush and stop exporting (on service stop)."""
        if self.provider is not None:
            self.provider.shutdown()


def build_tracing(
    service: str,
    enabled: bool,
    otlp_endpoint: str | None,
    processors: Sequence[SpanProcessor] = (),
) -> Tracing:
    """The service's tracing. Spans are made even with no exporter: they give every log line its
    trace id. With `otlp_endpoint` (the traces URL), finished spans go there in batches."""
    if not enabled:
        return Tracing(service, None)
    sampler = RecordWhenExported()
    provider = TracerProvider(resource=Resource.create({"service.name": service}), sampler=sampler)
    tracing = Tracing(service, provider, sampler)
    if otlp_endpoint:
        # Imported here: the exporter pulls in protobuf, needless when nothing is exported.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracing.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    for processor in processors:
        tracing.add_span_processor(processor)
    return tracing


def capture_context() -> str | None:
    """The current trace context as JSON (traceparent, tracestate), for a row stored now and
    acted on later; None outside any span."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return json.dumps(carrier, sort_keys=True) if carrier else None


def context_from(stored: str | None) -> Context:
    """The context stored by `capture_context`; an empty one (a new trace) when there is none or
    it does not parse (an observability header is no reason to fail a publish)."""
    if not stored:
        return Context()
    try:
        carrier = json.loads(stored)
    except ValueError:
        return Context()
    if not isinstance(carrier, dict):
        return Context()
    return PROPAGATOR.extract(
        {k: v for k, v in carrier.items() if k in TRACE_HEADERS and isinstance(v, str)},
        context=Context(),
    )


def trace_headers() -> dict[str, str]:
    """traceparent/tracestate of the current span, for a Kafka record's headers."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier
