"""A child's contact is never dropped: its own event, alerts to children's safeguarding and the
coordinator at once, a handover task, and no adult case-panel item."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import pytest

from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import wait_consumed, wait_for_records
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("person_change", "age_unknown"),
    [
        ({"date_of_birth": "2011-02-03"}, False),
        ({"date_of_birth": None, "age_estimate": None}, True),
    ],
    ids=["fifteen-year-old", "age-unknown"],
)
async def test_child_contact_alerts_childrens_safeguarding_at_once(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
    person_change: dict[str, object],
    age_unknown: bool,
) -> None:
    contact = json.loads(example_contact)
    contact["person"].update(person_change)
    contact["immediate_risk"] = False
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack, kafka_bootstrap, topic_prefix, database_urls
            )
            response = await system.post_contact(
                running.client("intake"), json.dumps(contact).encode()
            )
            assert response.status_code == 202
            reference = response.json()["case_reference"]

            event = json.loads(
                (await wait_for_records(kafka_bootstrap, REFERRALS.full_name(topic_prefix), 1))[
                    0
                ].value
            )
            assert event["event_type"] == "child_referral.opened.v1"
            assert event["pathway"] == "child"
            assert event["age_unknown"] is age_unknown
            assert event["urgency"] == "immediate", "a child's case is immediate by policy"

            messages = await smtp.inbox.wait_for(3)
            recipients = sorted(str(message["to"]) for message in messages)
            assert recipients[0] in {
                "advisor-day@safeguarding.local",
                "advisor-night@safeguarding.local",
            }
            assert recipients[1:] == [
                "childrens-safeguarding@safeguarding.local",
                "coordinator@safeguarding.local",
            ]
            assert all(
                str(m["subject"]).startswith("[IMMEDIATE] CHILD safeguarding referral")
                for m in messages
            )

            tasks = await eventually(
                lambda: running.client("casework").get(f"/v1/cases/{reference}/tasks"),
                lambda r: len(r.json()) == 1,
                what="handover task",
            )
            assert tasks.json()[0]["kind"] == "childrens_services_handover"
            # The scheduler has handled the referral (it commits after its handler): had it listed
            # the child's case, the item would be there now.
            await wait_consumed(
                kafka_bootstrap, "meeting_scheduler", [REFERRALS.full_name(topic_prefix)]
            )
            meetings = (await running.client("meeting_scheduler").get("/v1/meetings")).json()
            assert sum(m["items"] for m in meetings) == 0
