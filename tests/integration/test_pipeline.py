"""A police contact through the real broker to all three reactions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import pytest

from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.kafka import wait_consumed
from tests.support.notifier import wait_sends_settled
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

EXPECTED_TASKS = {
    "first_contact",
    "confirm_duty_to_notify_submitted",
    "safe_accommodation",
    "healthcare",
    "legal_advice",
    "interpreter",
}


async def test_contact_reaches_alert_tasks_and_agenda_once(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack, kafka_bootstrap, topic_prefix, database_urls
            )
            intake = running.client("intake")
            casework = running.client("casework")
            meetings = running.client("meeting_scheduler")

            first = await system.post_contact(intake, example_contact)
            assert first.status_code == 202, first.text
            reference = first.json()["case_reference"]

            messages = await smtp.inbox.wait_for(1, within=15)
            assert reference in str(messages[0]["subject"])

            tasks = await eventually(
                lambda: casework.get(f"/v1/cases/{reference}/tasks"),
                lambda response: len(response.json()) >= len(EXPECTED_TASKS),
                what="tasks opened",
            )
            assert {task["kind"] for task in tasks.json()} == EXPECTED_TASKS

            meetings_list = await eventually(
                lambda: meetings.get("/v1/meetings"),
                lambda response: sum(m["items"] for m in response.json()) == 1,
                what="agenda item added",
            )
            with_item = next(m for m in meetings_list.json() if m["items"] == 1)
            agenda = await meetings.get(with_item["agenda_url"])
            assert reference in agenda.text

            replay = await system.post_contact(intake, example_contact)
            assert replay.status_code == 200
            assert replay.json() == {"case_reference": reference, "outcome": "replayed"}

            # Intake has relayed all it will (one event: a replay adds none), every consumer has
            # handled what is on the topic, and the notifier has sent all it raised: a duplicate
            # anywhere would now be visible.
            assert await wait_outbox_relayed(running.databases["intake"]) == 1
            await wait_consumed(
                kafka_bootstrap,
                ("notifier", "casework", "meeting_scheduler"),
                [REFERRALS.full_name(topic_prefix)],
            )
            await wait_sends_settled(running.databases["notifier"])
            assert len(smtp.inbox.messages) == 1
            assert len((await casework.get(f"/v1/cases/{reference}/tasks")).json()) == len(
                EXPECTED_TASKS
            )
            assert sum(m["items"] for m in (await meetings.get("/v1/meetings")).json()) == 1


async def test_changed_contact_is_an_update_with_new_needs_only(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack,
                kafka_bootstrap,
                topic_prefix,
                database_urls,
                ("intake", "notifier", "casework"),
            )
            intake, casework = running.client("intake"), running.client("casework")
            reference = (await system.post_contact(intake, example_contact)).json()[
                "case_reference"
            ]
            await eventually(
                lambda: casework.get(f"/v1/cases/{reference}/tasks"),
                lambda response: len(response.json()) == len(EXPECTED_TASKS),
                what="first tasks",
            )
            changed = json.loads(example_contact)
            changed["support_needs"].append("housing")
            update = await system.post_contact(intake, json.dumps(changed).encode())
            assert update.status_code == 202
            assert update.json() == {"case_reference": reference, "outcome": "updated"}
            tasks = await eventually(
                lambda: casework.get(f"/v1/cases/{reference}/tasks"),
                lambda response: len(response.json()) == len(EXPECTED_TASKS) + 1,
                what="housing task added",
            )
            assert "housing" in {task["kind"] for task in tasks.json()}
            await smtp.inbox.wait_for(1)
            # The notifier has handled the update (two events on the topic) and sent all it raised.
            assert await wait_outbox_relayed(running.databases["intake"]) == 2
            await wait_consumed(kafka_bootstrap, "notifier", [REFERRALS.full_name(topic_prefix)])
            await wait_sends_settled(running.databases["notifier"])
            assert len(smtp.inbox.messages) == 1, "an update must not raise a second alert"
