"""Service-level tests: real handlers and SQLite, FastStream's in-memory Kafka broker, fakes at the
edges. Fast feedback; the same paths run against the real broker in tests/integration."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faststream import AckPolicy, TestApp
from faststream.kafka import TestKafkaBroker

from services.notifier.main import create_app as create_notifier
from services.notifier.ports import Attachment
from services.notifier.settings import NotifierSettings
from shared.events import (
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    Urgency,
)
from shared.topics import ALERTS, DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support.events import referral as build_referral
from tests.support.signing import publish_signed
from tests.support.system import TEST_SETTINGS_INTAKE, TEST_SETTINGS_NOTIFIER
from tests.support.waiting import wait_until

IN_MEMORY: dict[str, Any] = {"SAFEGUARDING_ENV": "test", "verify_topics_on_start": False, "outbox_poll_seconds": 0.2,
             "consumer_retry_backoff_seconds": 0.01}  # fmt: skip


class RecordingSender:
    def __init__(self, fail_first: int = 0) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.fail_first = fail_first

    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        if self.fail_first:
            self.fail_first -= 1
            return False
        self.sent.append((url, title, body))
        return True


def referral() -> ReferralOpenedV1:
    """The shared builder, as an immediate Duty to Notify case recorded at 08:30 in an operation."""
    return build_referral(
        "MS-2026-ABCDEF",
        datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        Urgency.IMMEDIATE,
        recorded_at=datetime(2026, 11, 28, 8, 30, tzinfo=UTC),
        pathway=Pathway.DUTY_TO_NOTIFY,
        nrm_consent=NrmConsent.DECLINED,
        operation="Op Test",
    )


async def test_intake_ingress_record_becomes_a_referral_and_junk_a_dead_letter(
    tmp_path: Path, example_contact: bytes
) -> None:
    from services.intake.main import create_app as create_intake
    from services.intake.settings import IntakeSettings

    app = create_intake(
        IntakeSettings(
            **IN_MEMORY,
            database_url=f"sqlite+aiosqlite:///{tmp_path}/i.sqlite3",
            **TEST_SETTINGS_INTAKE,
        )
    )
    broker = app.kafka_broker
    referrals: list[dict[str, Any]] = []
    letters: list[dict[str, Any]] = []

    @broker.subscriber(REFERRALS.name, group_id="probe-r", ack_policy=AckPolicy.ACK)
    async def on_referral(body: dict[str, Any]) -> None:
        referrals.append(body)

    @broker.subscriber(DEAD_LETTERS.name, group_id="probe-d", ack_policy=AckPolicy.ACK)
    async def on_letter(body: dict[str, Any]) -> None:
        letters.append(body)

    async with TestKafkaBroker(broker), TestApp(app):
        await publish_signed(broker, b"not json at all", POLICE_CONTACTS.name)
        await publish_signed(broker, example_contact, POLICE_CONTACTS.name)
        await wait_until(lambda: len(referrals) == 1, within=5, what="referral")

    assert referrals[0]["event_type"] == "referral.opened.v1"
    assert referrals[0]["pathway"] == "duty_to_notify"
    assert referrals[0]["urgency"] == "immediate"
    assert "person" not in referrals[0]
    assert "notes" not in referrals[0]
    assert len(letters) == 1
    assert letters[0]["reason"].startswith("1 invalid field(s): (body): Invalid JSON")


async def test_notifier_alerts_once_and_retries_a_failed_delivery(tmp_path: Path) -> None:
    sender = RecordingSender(fail_first=1)
    app = create_notifier(
        NotifierSettings(**IN_MEMORY, database_url=f"sqlite+aiosqlite:///{tmp_path}/n.sqlite3",
                         **TEST_SETTINGS_NOTIFIER, dispatch_poll_seconds=0.1),
        sender=sender,
    )  # fmt: skip
    broker = app.kafka_broker
    delivered: list[dict[str, Any]] = []

    @broker.subscriber(ALERTS.name, group_id="probe-a", ack_policy=AckPolicy.ACK)
    async def on_alert(body: dict[str, Any]) -> None:
        delivered.append(body)

    event = referral()
    async with TestKafkaBroker(broker), TestApp(app):
        await publish_signed(broker, event, REFERRALS.name)
        await publish_signed(broker, event, REFERRALS.name)  # redelivery
        # The first attempt fails; the retry is due after 1 s of backoff.
        await wait_until(
            lambda: any(event["event_type"] == "alert.delivered.v1" for event in delivered),
            within=8,
            what="delivered event",
        )

    assert len(sender.sent) == 1
    url, title, body = sender.sent[0]
    assert url.startswith("mailto://")  # the shipped rota gives people email only by default
    assert title == "[IMMEDIATE] Modern slavery referral MS-2026-ABCDEF"
    lines = body.splitlines()
    assert lines[:5] == [
        "Case MS-2026-ABCDEF",
        "Urgency: immediate",
        "District: Norwich",
        "Police contact: 08:30 28 Nov 2026",
        "Operation: Op Test",
    ]
    assert lines[5].startswith("Acknowledge: http://127.0.0.1:8002/ack/")
    delivered_events = [event for event in delivered if event["event_type"] == "alert.delivered.v1"]
    assert len(delivered_events) == 1
    assert delivered_events[0]["attempts"] == 2


async def test_malformed_event_is_dead_lettered_not_retried_forever(tmp_path: Path) -> None:
    sender = RecordingSender()
    app = create_notifier(
        NotifierSettings(**IN_MEMORY, database_url=f"sqlite+aiosqlite:///{tmp_path}/n.sqlite3",
                         **TEST_SETTINGS_NOTIFIER),
        sender=sender,
    )  # fmt: skip
    broker = app.kafka_broker
    letters: list[dict[str, Any]] = []

    @broker.subscriber(DEAD_LETTERS.name, group_id="probe-d", ack_policy=AckPolicy.ACK)
    async def on_letter(body: dict[str, Any]) -> None:
        letters.append(body)

    broken = referral().model_dump(mode="json") | {"urgency": "whenever"}
    async with TestKafkaBroker(broker), TestApp(app):
        await publish_signed(broker, json.dumps(broken).encode(), REFERRALS.name)
        await wait_until(lambda: len(letters) == 1, within=5, what="dead letter")
    assert letters[0]["attempts"] == 1
    assert "urgency" in letters[0]["reason"]
    assert "whenever" not in letters[0]["reason"]
    assert sender.sent == []
