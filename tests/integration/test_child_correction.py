"""An adult's case corrected to a child's: a second police contact with the same force code and
police reference whose date of birth makes the person 15. Children's safeguarding and the
coordinator must be alerted at once (DOMAIN.md: a child's case is never dropped), under the same
case reference; casework adds the handover task.

The adult path closes (found missing by these tests, then built): casework closes the adult tasks
as not needed ("handed to children's services"), so nobody is chased for them, and the meeting
scheduler withdraws the case from meetings still to come, so it is neither a new item nor carried
over as a review."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa

from services.meeting_scheduler.adapters.tables import agenda_items
from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import read_all
from tests.support.safeguarding_paths import group_caught_up, rows
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ADVISORS = {"advisor-day@safeguarding.local", "advisor-night@safeguarding.local"}
ADULT_TASKS = {
    "first_contact", "confirm_duty_to_notify_submitted", "safe_accommodation", "healthcare",
    "legal_advice", "interpreter",
}  # fmt: skip


@dataclass
class Corrected:
    reference: str
    running: system.Running
    urls: dict[str, str]
    messages: list[EmailMessage]


@asynccontextmanager
async def adult_case_corrected_to_a_child(
    kafka: str, prefix: str, databases: DatabaseUrls, contact: bytes, smtp: SmtpSink
) -> AsyncIterator[Corrected]:
    """The four services; an adult's contact, processed everywhere; then the same force code and
    police reference with a date of birth that makes the person 15. Yields once every service
    has consumed the correction."""
    adult: dict[str, Any] = json.loads(contact)  # born 1990-05-17: 36 on 27 Nov 2026
    adult["immediate_risk"] = False
    child = json.loads(json.dumps(adult))
    child["person"]["date_of_birth"] = "2011-02-03"  # 15 on 27 Nov 2026
    async with AsyncExitStack() as stack:
        urls = {name: await databases.new(name) for name in system.BUILDERS}
        running = await system.start(
            stack,
            {name: build(kafka, prefix, urls[name]) for name, build in system.BUILDERS.items()},
        )
        intake, casework = running.client("intake"), running.client("casework")
        first = await system.post_contact(intake, json.dumps(adult).encode())
        assert first.status_code == 202
        reference = first.json()["case_reference"]
        adult_mail = await smtp.inbox.wait_for(1)
        assert str(adult_mail[0]["to"]) in ADVISORS
        assert str(adult_mail[0]["subject"]) == f"[PRIORITY] Modern slavery referral {reference}"
        await eventually(
            lambda: casework.get(f"/v1/cases/{reference}/tasks"),
            lambda r: {t["kind"] for t in r.json()} == ADULT_TASKS,
            what="the adult's tasks",
        )
        await eventually(
            lambda: rows(urls["meeting_scheduler"], sa.select(agenda_items)),
            lambda found: len(found) == 1,
            what="the adult's agenda item",
        )

        corrected = await system.post_contact(intake, json.dumps(child).encode())
        assert corrected.status_code == 202
        assert corrected.json() == {"case_reference": reference, "outcome": "updated"}
        messages = await smtp.inbox.wait_for(4)
        for group in ("notifier", "casework", "meeting_scheduler"):
            await group_caught_up(kafka, prefix, REFERRALS, group)
        yield Corrected(reference, running, urls, messages)


async def test_adult_case_corrected_to_a_child_alerts_childrens_safeguarding_and_leaves_adult_path(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with adult_case_corrected_to_a_child(
            kafka_bootstrap, topic_prefix, database_urls, example_contact, smtp
        ) as case:
            reference = case.reference
            events = [
                json.loads(r.value)
                for r in await read_all(kafka_bootstrap, [REFERRALS.full_name(topic_prefix)])
            ]
            casework = case.running.client("casework")
            tasks = (
                await eventually(
                    lambda: casework.get(f"/v1/cases/{reference}/tasks"),
                    lambda r: len(active_kinds(r.json())) == 1,
                    what="the adult tasks closed",
                )
            ).json()
            meetings = await eventually(
                lambda: case.running.client("meeting_scheduler").get("/v1/meetings"),
                lambda r: sum(m["items"] + m["reviews"] for m in r.json()) == 0,
                what="the case off the case panel",
            )

    # The correction is the child's referral, under the same case reference, immediate.
    assert [(e["event_type"], e["case_reference"]) for e in events] == [
        ("referral.opened.v1", reference),
        ("child_referral.opened.v1", reference),
    ]
    assert (events[1]["pathway"], events[1]["urgency"]) == ("child", "immediate")
    # Children's safeguarding and the coordinator at once, with the on-duty advisor.
    later = case.messages[1:]
    recipients = sorted(str(m["to"]) for m in later)
    assert recipients[0] in ADVISORS
    assert recipients[1:] == [
        "childrens-safeguarding@safeguarding.local",
        "coordinator@safeguarding.local",
    ]
    assert {str(m["subject"]) for m in later} == {
        f"[IMMEDIATE] CHILD safeguarding referral {reference}"
    }
    # Casework adds the handover task, due within the hour; the adult tasks close as not needed
    # (kept, with the reason), so nobody is chased for them; the case leaves the case panel.
    kinds = sorted(t["kind"] for t in tasks)
    assert kinds == sorted([*ADULT_TASKS, "childrens_services_handover"])
    assert active_kinds(tasks) == ["childrens_services_handover"]
    closed = [t for t in tasks if t["status"] == "not_needed"]
    assert sorted(t["kind"] for t in closed) == sorted(ADULT_TASKS)
    assert {t["detail"] for t in closed} == {"handed to children's services: the person is a child"}
    assert sum(m["items"] + m["reviews"] for m in meetings.json()) == 0
    handover = next(t for t in tasks if t["kind"] == "childrens_services_handover")
    assert handover["status"] == "open"
    due = datetime.fromisoformat(handover["due_at"]) - datetime.fromisoformat(
        handover["created_at"]
    )
    assert timedelta(0) < due <= timedelta(hours=1)


def active_kinds(tasks: list[dict[str, Any]]) -> list[str]:
    return sorted(t["kind"] for t in tasks if t["status"] in {"open", "in_progress"})
