"""Tracing's parts on their own: the outbox carries a span's context to the relay's publish, the
exported copy of a span holds no personal data, every log line inside a span names it, and where
spans may be exported."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from faststream.kafka.response import KafkaPublishCommand
from faststream.response.publish_type import PublishType
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from shared.db import create_engine
from shared.events import AlertRaisedV1, Urgency
from shared.logging import configure_logging, get_logger
from shared.outbox import OutboxRelay, enqueue, outbox_table
from shared.settings import ServiceSettings
from shared.tracing import (
    Tracing,
    _keyless_provider,
    build_tracing,
    capture_context,
    context_from,
    trace_headers,
)
from tests.support.signing import event_settings

REFERENCE = "MS-2026-Q7X4K2"


def traced(service: str = "unit") -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return build_tracing(service, True, None, [SimpleSpanProcessor(exporter)]), exporter


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def event() -> AlertRaisedV1:
    return AlertRaisedV1(
        occurred_at=datetime(2026, 5, 4, 10, 0, tzinfo=UTC), correlation_id="c-1",
        producer="notifier", alert_id="a-1", kind="referral", urgency=Urgency.IMMEDIATE,
        case_references=(REFERENCE,),
    )  # fmt: skip


async def test_enqueue_and_relay_carry_the_trace_context(tmp_path: Path) -> None:
    tracing, exporter = traced()
    metadata = sa.MetaData()
    table = outbox_table(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.sqlite3'}")
    published: list[dict[str, str]] = []

    async def publish(topic: str, key: bytes, value: bytes, correlation_id: str) -> None:
        published.append(trace_headers())  # what publish_bytes puts in the record's headers

    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        with tracing.span("receive contact", None, kind=SpanKind.SERVER):
            async with engine.begin() as connection:
                await enqueue(connection, table, "referrals", REFERENCE, event())
        async with engine.begin() as connection:  # outside any span: a row with no context
            await enqueue(connection, table, "referrals", REFERENCE, event())
        async with engine.connect() as connection:
            stored = (await connection.execute(sa.select(table.c.trace_context))).scalars().all()
        assert stored[1] is None
        assert set(json.loads(str(stored[0]))) == {"traceparent"}

        relay = OutboxRelay(engine, table, publish, lambda: datetime.now(UTC), tracing=tracing)
        assert await relay.flush() == 2
    finally:
        await engine.dispose()

    spans = tuple(exporter.get_finished_spans())
    origin = by_name(spans, "receive contact")
    relayed = [span for span in spans if span.name == "outbox relay"]
    assert len(relayed) == 2
    first, second = relayed
    assert first.context is not None
    assert origin.context is not None
    assert first.context.trace_id == origin.context.trace_id
    assert first.parent is not None
    assert first.parent.span_id == origin.context.span_id
    assert first.kind is SpanKind.PRODUCER
    # The record's traceparent names the relay's span in the same trace.
    trace_id, span_id = published[0]["traceparent"].split("-")[1:3]
    assert (int(trace_id, 16), int(span_id, 16)) == (origin.context.trace_id, first.context.span_id)
    # No stored context: a trace of its own, not a child of whatever ran before.
    assert second.parent is None
    assert second.context is not None
    assert second.context.trace_id != origin.context.trace_id


def test_a_missing_or_damaged_context_starts_a_new_trace() -> None:
    for stored in (None, "", "not json", "[1]", json.dumps({"traceparent": "00-zz"})):
        assert len(context_from(stored)) == 0
    tracing, _ = traced()
    with tracing.span("outer", None):
        assert capture_context() is not None
    assert capture_context() is None  # outside every span: nothing to store


def test_exported_spans_hold_no_personal_data() -> None:
    tracing, exporter = traced()
    with (
        pytest.raises(ValueError, match="is not valid"),
        tracing.span(
            "GET /v1/cases/{case_reference}",
            None,
            {
                "http.route": "/v1/cases/{case_reference}",
                "http.target": f"/v1/cases/{REFERENCE}?note=locked+in",
                "http.url": f"http://casework/v1/cases/{REFERENCE}",
                "net.peer.ip": "10.1.2.3",
                "messaging.kafka.message.key": REFERENCE,
                "http.status_code": 500,
                "safeguarding.channel": "sms",
            },
        ),
    ):
        raise ValueError(f"case {REFERENCE} is not valid")
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {}) == {
        "http.route": "/v1/cases/{case_reference}",
        "http.status_code": 500,
        "safeguarding.channel": "sms",
    }
    (exception,) = span.events
    assert dict(exception.attributes or {}) == {"exception.type": "ValueError"}
    assert span.status.description is None
    assert REFERENCE not in repr(span.to_json())


def test_faststream_never_records_the_kafka_key() -> None:
    """The Kafka key of a referral is its case reference: FastStream's attribute provider as this
    project configures it leaves it out of the live span, not only the exported copy."""
    command = KafkaPublishCommand(
        b"{}", topic="referrals", key=REFERENCE.encode(), _publish_type=PublishType.PUBLISH
    )
    attributes = _keyless_provider(None).get_publish_attrs_from_cmd(command)
    assert attributes["messaging.destination.name"] == "referrals"
    assert REFERENCE.encode() not in attributes.values()
    assert not any("key" in name for name in attributes)


def test_every_log_line_in_a_span_carries_its_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("unit")
    tracing, _ = traced()
    with tracing.span("work", None) as span:
        get_logger("unit").info("structlog_line")
        logging.getLogger("faststream").warning("stdlib line")  # a library's (foreign) record
    get_logger("unit").info("outside_line")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    inside = [line for line in lines if line["event"] in ("structlog_line", "stdlib line")]
    assert len(inside) == 2
    expected = format(span.get_span_context().trace_id, "032x")
    for line in inside:
        assert line["trace_id"] == expected
        assert len(line["span_id"]) == 16
    (outside,) = [line for line in lines if line["event"] == "outside_line"]
    assert "trace_id" not in outside
    structlog.reset_defaults()


def test_tracing_off_makes_no_spans_and_no_context() -> None:
    tracing = build_tracing("unit", False, None)
    with tracing.span("work", None):
        assert capture_context() is None
    assert tracing.broker_middlewares() == []


PRODUCTION: dict[str, Any] = {
    "SAFEGUARDING_ENV": "production", "database_url": "postgresql+asyncpg://svc@db.internal/svc",
    "KAFKA_SECURITY": "ssl", **event_settings("notifier"),
    "staff_oidc": {"issuer": "https://login.example.org/realms/s"},
}  # fmt: skip


def test_otlp_export_settings() -> None:
    assert ServiceSettings(**PRODUCTION).otlp_traces_url() is None  # no endpoint: no export
    generic = ServiceSettings(
        **PRODUCTION, OTEL_EXPORTER_OTLP_ENDPOINT="https://otel.internal:4318/"
    )
    assert generic.otlp_traces_url() == "https://otel.internal:4318/v1/traces"
    both = ServiceSettings(
        **PRODUCTION,
        OTEL_EXPORTER_OTLP_ENDPOINT="https://otel.internal:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="https://traces.internal/api/traces",
    )
    assert both.otlp_traces_url() == "https://traces.internal/api/traces"
    sidecar = ServiceSettings(**PRODUCTION, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert sidecar.otlp_traces_url() == "http://127.0.0.1:4318/v1/traces"
    with pytest.raises(ValidationError, match="exports traces over https"):
        ServiceSettings(**PRODUCTION, OTEL_EXPORTER_OTLP_ENDPOINT="http://otel.internal:4318")
    with pytest.raises(ValidationError, match="must be an http"):
        ServiceSettings(**PRODUCTION, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="otel.internal:4318")


def test_spans_are_exported_over_otlp_http_scrubbed() -> None:
    """A real OTLP/HTTP receiver on loopback gets the service's spans, protobuf-encoded, on
    shutdown (the flush a service stop makes), with the dropped attributes not in the bytes."""
    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(b"")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        tracing = build_tracing("casework", True, url)
        with tracing.span("casework work", None, {"safeguarding.kind": "x", "http.url": REFERENCE}):
            pass
        tracing.shutdown()
    finally:
        server.shutdown()
    assert [path for path, _ in received] == ["/v1/traces"]
    request = ExportTraceServiceRequest.FromString(received[0][1])
    (resource_spans,) = request.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "casework"
    (span,) = [span for scope in resource_spans.scope_spans for span in scope.spans]
    assert span.name == "casework work"
    assert [a.key for a in span.attributes] == ["safeguarding.kind"]
    assert REFERENCE.encode() not in received[0][1]


def test_spans_are_recorded_only_once_something_receives_them() -> None:
    """With nowhere to send spans they are non-recording (cheap) but keep their ids, which the log
    lines and Kafka headers carry; a processor added later makes the next spans recorded."""
    tracing = build_tracing("intake", enabled=True, otlp_endpoint=None)
    with tracing.span("quiet", None) as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
        with tracing.span("child", None) as child:
            assert not child.is_recording()
    exporter = InMemorySpanExporter()
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.span("exported", None) as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["exported"]
