"""Forged, replayed and re-signed records on every consumed topic, against the four services as real
processes (`faststream run`, tests/support/live.py) on the real broker (SQLite and PostgreSQL):
each is dead-lettered with its reason and counted (the consumers' `forged_event_refused` log lines,
what an operator sees), and none is acted on. Writing to a topic, which Kafka's ACLs already
restrict, is not enough to make a service do anything: the record must be signed by the producer
that owns the topic (internal events, Ed25519) or by the police system (ingress, the HTTP scheme's
HMAC and replay store)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from services.casework.adapters.tables import tasks
from services.intake.adapters.tables import cases
from services.meeting_scheduler.adapters.tables import operation_debriefs
from services.notifier.adapters.tables import alerts, operation_plans
from shared.events import AlertAcknowledgedV1, District, OperationAnnouncedV1, Urgency
from shared.topics import AGENDA, ALERTS, DEAD_LETTERS, POLICE_CONTACTS, REFERRALS, TASKS
from tests.fault.conftest import Sinks, service_databases, sinks  # noqa: F401 (fixtures)
from tests.support.events import referral
from tests.support.kafka import produce, produce_many, read_all, wait_consumed
from tests.support.live import LiveSystem
from tests.support.safeguarding_paths import rows
from tests.support.signing import event_headers, police_record_headers
from tests.unit.builders import example_dict

pytestmark = pytest.mark.security

GROUPS = {  # every consumer group, with the topic it reads
    "intake": POLICE_CONTACTS, "notifier": REFERRALS, "casework": REFERRALS,
    "meeting_scheduler": REFERRALS, "notifier.tasks": TASKS, "notifier.agenda": AGENDA,
    "casework.alerts": ALERTS, "meeting_scheduler.tasks": TASKS,
    "meeting_scheduler.alerts": ALERTS,
}  # fmt: skip


@dataclass
class Tried:
    what: str
    topic: str
    expected: str
    outcome: str = ""


async def send(kafka: str, topic: str, value: bytes, key: bytes | None, headers: Any) -> None:
    """One record exactly as given: no signing by the test support."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def forged_refusals(logs: str, prefix: str) -> int:
    """The consumers' `forged_event_refused` log lines about this test's topics: each is one
    forged record refused by one consumer (shared/kafka.py signature_middleware)."""
    counted = 0
    for line in logs.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(entry, dict)
            and entry.get("event") == "forged_event_refused"
            and str(entry.get("topic", "")).startswith(prefix)
        ):
            counted += 1
    return counted


async def test_forged_and_replayed_records_are_dead_lettered_never_acted_on(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    sinks: Sinks,  # noqa: F811 (the fixture imported above)
    service_databases: dict[str, str],  # noqa: F811
) -> None:
    def topic(spec: Any) -> str:
        return str(spec.full_name(topic_prefix))

    now = datetime.now(UTC)
    forged_referral = referral("MS-2026-FORGE1", now, Urgency.IMMEDIATE)
    value = forged_referral.model_dump_json().encode()
    key = forged_referral.case_reference.encode()
    as_notifier = referral("MS-2026-FORGE2", now, Urgency.IMMEDIATE, producer="notifier")
    notifier_value = as_notifier.model_dump_json().encode()
    genuine = referral("MS-2026-FORGE3", now, Urgency.PRIORITY)
    genuine_value = genuine.model_dump_json().encode()
    edited = genuine_value.replace(b'"priority"', b'"immediate"')
    acknowledged = AlertAcknowledgedV1(
        occurred_at=now, correlation_id="c-forge", producer="notifier", alert_id="a-forged",
        case_references=("MS-2026-FORGE3",), person_id="nobody", via="code",
    )  # fmt: skip
    ack_value = acknowledged.model_dump_json().encode()
    # An agenda e-mail to a rota person with any attachment, signed by the notifier's own key.
    agenda = {"event_type": "agenda.published.v1", "producer": "notifier"}
    agenda_value = json.dumps(agenda).encode()
    # A police operation "announced" by casework's key: no warning, reminder or debrief from it.
    announced = OperationAnnouncedV1(
        occurred_at=now, correlation_id="c-forge", producer="intake", operation="Op Forged",
        operation_group="NFK:forged", force_code="NFK", district=District.NORWICH,
        starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2),
        expected_victims=400, version=1,
    )  # fmt: skip
    announced_value = announced.model_dump_json().encode()

    contact_v1 = example_dict() | {"police_reference": "NFK/FORGE/1"}
    contact_v2 = contact_v1 | {"notes": "A later, corrected account."}
    v1 = json.dumps(contact_v1).encode()
    v2 = json.dumps(contact_v2).encode()
    v1_headers = police_record_headers(v1, request_id="forge-request-0001")
    stale = police_record_headers(v1, request_id="forge-request-0002",
                                  timestamp=int(time.time()) - 600)  # fmt: skip

    attempts: list[tuple[Tried, str, bytes, bytes | None, Any]] = [
        (Tried("unsigned referral", "referrals", "unsigned record on an internal topic"),
         topic(REFERRALS), value, key, None),
        (Tried("referral signed by the notifier's genuine key", "referrals",
               "notifier may not publish on this topic"),
         topic(REFERRALS), notifier_value, key, event_headers(topic(REFERRALS), key, notifier_value,
                                                             as_service="notifier")),
        (Tried("genuine referral edited after signing (priority → immediate)", "referrals",
               "signature does not verify"),
         topic(REFERRALS), edited, key_of(genuine),
         event_headers(topic(REFERRALS), key_of(genuine), genuine_value)),
        (Tried("operation announcement signed by casework's key", "referrals",
               "casework may not publish on this topic"),
         topic(REFERRALS), announced_value, b"NFK:forged",
         event_headers(topic(REFERRALS), b"NFK:forged", announced_value, as_service="casework")),
        (Tried("acknowledgement signed by casework's key", "alerts",
               "casework may not publish on this topic"),
         topic(ALERTS), ack_value, b"a-forged", event_headers(topic(ALERTS), b"a-forged", ack_value,
                                                              as_service="casework")),
        (Tried("agenda e-mail signed by the notifier's key", "agenda",
               "notifier may not publish on this topic"),
         topic(AGENDA), agenda_value, None, event_headers(topic(AGENDA), None, agenda_value,
                                                          as_service="notifier")),
        (Tried("unsigned task event", "tasks", "unsigned record on an internal topic"),
         topic(TASKS), b'{"producer": "casework"}', None, None),
        (Tried("unsigned police contact", "ingress", "police signature: missing header(s)"),
         topic(POLICE_CONTACTS), v1, None, None),
        (Tried("police contact signed ten minutes before it reached Kafka", "ingress",
               "police signature: X-Timestamp outside the accepted window"),
         topic(POLICE_CONTACTS), v1, None, stale),
    ]  # fmt: skip

    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port,
    ) as live:  # fmt: skip
        # A genuine contact, then its genuine correction; then the first record again, as an
        # attacker who copied it would write it: the correction must stand.
        await send(kafka_bootstrap, topic(POLICE_CONTACTS), v1, None, v1_headers)
        await produce(kafka_bootstrap, topic(POLICE_CONTACTS), v2)
        await wait_consumed(kafka_bootstrap, "intake", [topic(POLICE_CONTACTS)], within=30)
        attempts.append(
            (
                Tried(
                    "a copy of an earlier signed contact, after its correction",
                    "ingress",
                    "police signature: request id already used",
                ),
                topic(POLICE_CONTACTS),
                v1,
                None,
                v1_headers,
            )
        )
        for _, where, body, record_key, headers in attempts:
            await send(kafka_bootstrap, where, body, record_key, headers)
        # Positive control: a genuine referral sent last is acted on.
        await produce_many(kafka_bootstrap, topic(REFERRALS), [(genuine_value, key_of(genuine))])
        for group, spec in GROUPS.items():
            await wait_consumed(kafka_bootstrap, group, [topic(spec)], within=60)

        letters = [
            json.loads(r.value) for r in await read_all(kafka_bootstrap, [topic(DEAD_LETTERS)])
        ]
        events = [json.loads(r.value) for r in await read_all(kafka_bootstrap, [topic(REFERRALS)])]
        alert_rows = await rows(service_databases["notifier"], sa.select(alerts.c.case_reference))
        plans = await rows(service_databases["notifier"], sa.select(operation_plans))
        debriefs = await rows(service_databases["meeting_scheduler"], sa.select(operation_debriefs))
        task_rows = await rows(service_databases["casework"],
                               sa.select(tasks.c.case_reference, tasks.c.assignee))  # fmt: skip
        case_rows = await rows(service_databases["intake"],
                               sa.select(cases.c.case_reference, cases.c.police_reference))  # fmt: skip
        counted = forged_refusals(live.logs(), topic_prefix)

    reasons = [(letter["source_topic"], letter["reason"]) for letter in letters]
    print(f"\n{'what was tried':64} {'topic':10} outcome")
    for tried, where, *_ in attempts:
        matching = [why for source, why in reasons if source == where and tried.expected in why]
        tried.outcome = (
            f"dead-lettered ×{len(matching)}: {tried.expected}" if matching else "NOT refused"
        )
        print(f"{tried.what:64} {tried.topic:10} {tried.outcome}")
    print(
        f"forged internal records refused in the consumers' logs: {counted}; "
        f"dead letters: {len(letters)}"
    )

    assert all(tried.outcome.startswith("dead-lettered") for tried, *_ in attempts), attempts
    # Each consumer of a topic refuses a forged record on its own: three read referrals (four
    # forged there), two (casework, meeting scheduler) alerts, two (notifier, meeting scheduler)
    # tasks, one (notifier) the agenda.
    assert counted == 4 * 3 + 2 + 2 + 1
    assert plans == [], "no operation planned from a forged announcement"
    assert debriefs == [], "no debrief from a forged announcement"
    acted_on = {row["case_reference"] for row in alert_rows}
    assert not {"MS-2026-FORGE1", "MS-2026-FORGE2"} & acted_on, "no alert from a forged referral"
    assert "MS-2026-FORGE3" in acted_on, "the genuine referral is alerted (positive control)"
    assert {row["assignee"] for row in task_rows if row["case_reference"] == "MS-2026-FORGE3"} != {
        "nobody"
    }
    [contact_case] = [
        row["case_reference"] for row in case_rows if row["police_reference"] == "NFK/FORGE/1"
    ]
    about = [event["event_type"] for event in events if event.get("case_reference") == contact_case]
    assert about == ["referral.opened.v1", "referral.updated.v1"], "the copy changed nothing"


def key_of(event: Any) -> bytes:
    return str(event.case_reference).encode()
