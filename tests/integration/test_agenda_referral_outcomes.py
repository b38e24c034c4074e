"""Onward referrals on the case panel's agenda, end to end on the real broker, SQLite and PostgreSQL:
a police contact reaches intake → casework opens its need tasks and the meeting scheduler lists
the case → the head of service records an onward referral on a need task through casework's API →
casework's ReferralOutcomeRecordedV1 reaches the scheduler and the agenda's JSON lists it under the
case → a later outcome (declined, with its reason) replaces it, in the JSON and the Markdown → the
first event published again (a redelivery, older than the one kept) changes nothing."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import pytest

from services.casework.directory import NEED_KINDS
from shared.topics import TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.kafka import produce, read_all, wait_consumed
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ORGANISATION = "Norwich Night Shelter"


async def test_a_referrals_outcome_reaches_the_agenda_and_a_later_one_replaces_it(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
) -> None:
    async with AsyncExitStack() as stack:
        running = await system.start_services(
            stack, kafka_bootstrap, topic_prefix, database_urls,
            ("intake", "casework", "meeting_scheduler"),
        )  # fmt: skip
        casework, meetings = running.client("casework"), running.client("meeting_scheduler")
        contact = json.loads(example_contact)
        contact["police_reference"] = "NFK/2026/ONWARD1"
        posted = await system.post_contact(running.client("intake"), json.dumps(contact).encode())
        assert posted.status_code == 202, posted.text
        reference = posted.json()["case_reference"]

        listed = await eventually(
            lambda: casework.get(f"/v1/cases/{reference}/tasks"),
            lambda r: any(task["kind"] in NEED_KINDS for task in r.json()),
            what="a need task",
        )
        task = next(task for task in listed.json() if task["kind"] in NEED_KINDS)
        referrals = f"/v1/tasks/{task['task_id']}/referrals"
        made = await casework.post(
            referrals, json={"organisation_name": ORGANISATION, "method": "phone"}
        )
        assert made.status_code == 201, made.text
        referral_id = made.json()["referral_id"]

        meeting = await eventually(
            lambda: meetings.get("/v1/meetings"),
            lambda r: any(m["items"] for m in r.json()),
            what="the case on an agenda",
        )
        agenda_url = next(m for m in meeting.json() if m["items"])["agenda_url"]

        async def onward() -> list[dict[str, Any]]:
            items = (await meetings.get(agenda_url.removesuffix(".md"))).json()["new_items"]
            return list(
                next(i for i in items if i["case_reference"] == reference)["onward_referrals"]
            )

        first = await eventually(onward, lambda found: len(found) == 1, what="the referral listed")
        assert first[0] | {"recorded_at": ""} == {
            "task_id": task["task_id"], "referral_id": referral_id, "need": task["kind"],
            "organisation_id": None, "organisation_name": ORGANISATION, "outcome": "made",
            "decline_reason": None, "recorded_at": "",
        }  # fmt: skip
        assert first[0]["recorded_at"].endswith("Z")

        declined = await casework.post(
            f"{referrals}/{referral_id}/outcome",
            json={"outcome": "declined", "decline_reason": "no_capacity"},
        )
        assert declined.status_code == 200, declined.text
        later = await eventually(
            onward, lambda found: found[0]["outcome"] == "declined", what="the later outcome"
        )
        assert len(later) == 1  # replaced, not added: the latest outcome only
        assert later[0]["decline_reason"] == "no_capacity"
        assert later[0]["recorded_at"] > first[0]["recorded_at"]
        markdown = (await meetings.get(agenda_url)).text
        assert f"Case {reference}" in markdown
        assert f"| {ORGANISATION} | Declined: no capacity |" in markdown

        # The first event again, as a redelivery would bring it: older than the outcome kept.
        await wait_outbox_relayed(running.databases["casework"])
        records = await read_all(kafka_bootstrap, [TASKS.full_name(topic_prefix)], quiet_for=0.3)
        (redelivered,) = [
            record for record in records
            if json.loads(record.value).get("referral_id") == referral_id
            and json.loads(record.value)["outcome"] == "made"
        ]  # fmt: skip
        await produce(
            kafka_bootstrap, TASKS.full_name(topic_prefix), redelivered.value, redelivered.key
        )
        await wait_consumed(
            kafka_bootstrap, "meeting_scheduler.tasks", [TASKS.full_name(topic_prefix)]
        )
        assert await onward() == later
