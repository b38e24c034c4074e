"""One trace from the police POST to the SMS: the four services in-process on the real broker, each
with its own tracer provider and an in-memory exporter, a signed contact POSTed to intake, and the
SMS caught at the gateway stand-in. Then: every span of the contact is in the trace that starts at
intake's HTTP server span, nothing in it hangs off a parent outside it, each service wrote a log
line carrying its id, and no span holds the case reference or any value of the contact."""

from __future__ import annotations

import json
import logging
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.topics import ALERTS, REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.http_gateway import RunningGateway
from tests.support.notifier import write_policy, write_rota
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SERVICES = ("intake", "notifier", "casework", "meeting_scheduler")


class CapturedLogs(logging.Handler):
    """Every log record, formatted by the services' own JSON formatter, with its logger name."""

    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[tuple[str, dict[str, object]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, json.loads(self.format(record))))


def contact_values(body: bytes) -> list[str]:
    """The contact's identifying values: none of them may turn up in a span."""
    contact = json.loads(body)
    person, officer = contact["person"], contact["officer"]
    return [
        contact["police_reference"], officer["name"], officer["phone"], officer["email"],
        officer["collar_number"], person["name"], person["date_of_birth"],
        contact["location"]["postcode_sector"], contact["notes"],
    ]  # fmt: skip


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


def texts_of(span: ReadableSpan) -> list[str]:
    values = [span.name, *(str(v) for v in (span.attributes or {}).values())]
    for event in span.events:
        values += [event.name, *(str(v) for v in (event.attributes or {}).values())]
    return values


async def test_one_trace_runs_from_the_post_to_the_sms(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    example_contact: bytes,
) -> None:
    database_urls = DatabaseUrls(
        "sqlite", tmp_path, None
    )  # tracing does not depend on the database
    correlation_id = f"trace-test-{uuid.uuid4().hex[:12]}"
    exported = {name: InMemorySpanExporter() for name in SERVICES}
    # Straight from the provider, before scrubbing: what FastStream and FastAPI record live.
    raw = InMemorySpanExporter()
    async with RunningGateway() as gateway, AsyncExitStack() as stack:
        smtp = stack.enter_context(SmtpSink())
        urls = {name: await database_urls.new(name) for name in SERVICES}
        notifier_settings = NotifierSettings(
            **system.common(kafka_bootstrap, topic_prefix, urls["notifier"]),
            **system.TEST_SETTINGS_NOTIFIER | {
                "rota_file": write_rota(tmp_path, gateway, smtp.port),
                # Step 0 now; the next ones long after the test.
                "alerting_file": write_policy(tmp_path, step_seconds=600),
            },
            dispatch_poll_seconds=0.2,
        )  # fmt: skip
        apps = {
            "intake": system.intake_app(kafka_bootstrap, topic_prefix, urls["intake"]),
            "notifier": create_notifier(notifier_settings),
            "casework": system.casework_app(kafka_bootstrap, topic_prefix, urls["casework"]),
            "meeting_scheduler": system.scheduler_app(
                kafka_bootstrap, topic_prefix, urls["meeting_scheduler"]
            ),
        }
        for name, app in apps.items():
            assert app.tracing.enabled  # on by default
            app.tracing.add_span_processor(SimpleSpanProcessor(exported[name]))
            assert isinstance(app.tracing.provider, TracerProvider)
            app.tracing.provider.add_span_processor(SimpleSpanProcessor(raw))
        root_logger = logging.getLogger()
        logs = CapturedLogs(root_logger.handlers[0].formatter)
        root_logger.addHandler(logs)
        stack.callback(root_logger.removeHandler, logs)
        running = await system.start(stack, apps)

        intake = running.client("intake")
        headers = system.signed(example_contact) | {"x-correlation-id": correlation_id}
        response = await intake.post("/v1/contacts", content=example_contact, headers=headers)
        assert response.status_code == 202, response.text
        reference = response.json()["case_reference"]

        await wait_until(lambda: bool(gateway.to("sms/advisor-a")), within=30, what="the SMS")

        def spans() -> list[ReadableSpan]:
            return [span for name in SERVICES for span in exported[name].get_finished_spans()]

        def ours(span: ReadableSpan) -> bool:
            return (span.attributes or {}).get("messaging.message.conversation_id") == (
                correlation_id
            )

        def finished(service: str, suffix: str) -> bool:
            return any(
                service_of(s) == service and s.name.endswith(suffix) and ours(s) for s in spans()
            )

        def parents_finished() -> bool:
            """A span is exported when it ends, its parent later (a relay's span outlives its
            publish): wait until every finished span's parent has finished too."""
            done = spans()
            ids = {s.context.span_id for s in done if s.context is not None}
            return all(s.parent is None or s.parent.span_id in ids for s in done)

        # The SMS is at the gateway before its span ends; the other consumers run on their own.
        referrals, alerts = REFERRALS.full_name(topic_prefix), ALERTS.full_name(topic_prefix)
        await wait_until(
            lambda: (
                any(s.name == "notify sms" for s in spans())
                and finished("casework", f"{referrals} process")
                and finished("meeting_scheduler", f"{referrals} process")
                and finished("casework", f"{alerts} process")
                and parents_finished()
            ),
            within=30,
            what="the spans of every service",
        )
        all_spans = spans()

    (root,) = [s for s in all_spans if s.name == "POST /v1/contacts"]
    assert service_of(root) == "intake"
    assert root.kind is SpanKind.SERVER
    assert root.parent is None  # the police system sent no trace context: the trace starts here
    assert root.context is not None
    trace_id = root.context.trace_id
    in_trace = [s for s in all_spans if s.context is not None and s.context.trace_id == trace_id]
    ids = {s.context.span_id for s in in_trace if s.context is not None}

    per_service = {name: sum(service_of(s) == name for s in in_trace) for name in SERVICES}
    print(f"one contact's trace: {len(in_trace)} spans {per_service}")  # README figure, with -s

    # Every Kafka span of this contact's events (they all carry its correlation id) is in it.
    about_contact = [s for s in all_spans if ours(s)]
    assert about_contact
    assert all(s in in_trace for s in about_contact), sorted(
        (service_of(s), s.name) for s in about_contact if s not in in_trace
    )
    # Unbroken: every span but the root has its parent in the trace.
    orphans = [
        s for s in in_trace if s is not root and (s.parent is None or s.parent.span_id not in ids)
    ]
    assert not orphans, [(service_of(s), s.name) for s in orphans]

    def present(service: str, name_end: str) -> bool:
        return any(service_of(s) == service and s.name.endswith(name_end) for s in in_trace)

    assert present("intake", "outbox relay")
    # The relay's span is the producer's: each consumer's span of the referral is its child.
    relay_spans = {
        s.context.span_id: s
        for s in in_trace
        if s.name == "outbox relay" and service_of(s) == "intake" and s.context is not None
    }
    consumed = [s for s in in_trace if s.name == f"{referrals} process"]
    assert {service_of(s) for s in consumed} >= {"notifier", "casework", "meeting_scheduler"}
    assert all(s.parent is not None and s.parent.span_id in relay_spans for s in consumed)
    assert present("notifier", f"{referrals} process")
    assert present("casework", f"{referrals} process")
    assert present("meeting_scheduler", f"{referrals} process")
    assert present("notifier", "outbox relay")  # the alert's events
    assert present("casework", f"{alerts} process")  # the alert's events, consumed
    (sms,) = [s for s in in_trace if s.name == "notify sms"]
    assert service_of(sms) == "notifier"
    assert dict(sms.attributes or {}) == {
        "safeguarding.channel": "sms",
        "safeguarding.attempt": 1,
        "safeguarding.delivered": True,
    }

    # A log line of each service carries the trace's id.
    hex_id = format(trace_id, "032x")
    for service in SERVICES:
        traced = [
            line for name, line in logs.lines
            if name.startswith(f"services.{service}.") and line.get("trace_id") == hex_id
        ]  # fmt: skip
        assert traced, f"no log line of {service} carries the trace id"

    # No case reference, no contact value, no Kafka key: not in what is exported, and not even in
    # the live spans (FastStream is configured not to record the key).
    probes = [reference, *contact_values(example_contact)]
    for span in [*all_spans, *raw.get_finished_spans()]:
        for text in texts_of(span):
            leaked = [probe for probe in probes if probe.lower() in text.lower()]
            assert not leaked, (service_of(span), span.name)
        assert not any("message.key" in key for key in span.attributes or {})
