"""The agenda follows casework on the real broker: open needs and actions due come from task
events, an open case comes back as a review at the next meeting, and a closed one drops off."""

from __future__ import annotations

import re
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.events import (
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    Urgency,
)
from shared.topics import REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.kafka import produce, wait_consumed
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


CASE = "MS-2026-CARRY1"


def row(markdown: str, section: str, reference: str) -> str:
    """The table row naming `reference` in the agenda's numbered section `## N. section`, or ""."""
    heading = re.search(rf"^## \d+\. {re.escape(section)}$", markdown, re.MULTILINE)
    if heading is None:
        return ""
    body = markdown[heading.end() :].split("\n## ")[0]
    return next((line for line in body.splitlines() if f"| {reference} |" in line), "")


async def test_open_cases_carry_over_and_closed_ones_drop_off(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # Sunday; panels on 2 and 9 Dec
    casework_db = await database_urls.new("casework")
    scheduler_db = await database_urls.new("meeting_scheduler")
    casework = create_casework(
        CaseworkSettings(**system.common(kafka_bootstrap, topic_prefix, casework_db),
                         **system.TEST_SETTINGS_CASEWORK), clock,
    )  # fmt: skip
    scheduler = create_scheduler(
        SchedulerSettings(**system.common(kafka_bootstrap, topic_prefix, scheduler_db),
                          **system.TEST_SETTINGS_MEETINGS), clock,
    )  # fmt: skip
    event = ReferralOpenedV1(
        occurred_at=clock.now(), correlation_id="c", producer="intake", case_reference="MS-2026-CARRY1",
        force_code="NFK", recorded_at=clock.now() - timedelta(hours=3), district=District.BRECKLAND,
        exploitation_types=(ExploitationType.CRIMINAL,), pathway=Pathway.NRM, age_unknown=False,
        urgency=Urgency.PRIORITY, immediate_risk=False, nrm_consent=NrmConsent.GIVEN,
        support_needs=(SupportNeed.SAFE_ACCOMMODATION, SupportNeed.HOUSING),
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        running = await system.start(stack, {"casework": casework, "meeting_scheduler": scheduler})
        meetings, tasks = running.client("meeting_scheduler"), running.client("casework")
        await produce(
            kafka_bootstrap, REFERRALS.full_name(topic_prefix), event.model_dump_json().encode()
        )

        first = await eventually(
            lambda: meetings.get("/v1/meetings/case-panel/2026-12-02/agenda.md"),
            lambda r: "| Housing, Safe accommodation |" in row(r.text, "New cases", CASE),
            what="needs from casework's task events",
        )
        assert CASE in row(first.text, "New cases", CASE)

        clock.advance(timedelta(hours=5))  # safe accommodation (4 h) is now overdue
        await eventually(
            lambda: meetings.get("/v1/meetings/case-panel/2026-12-02/agenda.md"),
            lambda r: "Safe accommodation" in row(r.text, "Actions due", CASE),
            what="actions due",
        )
        review = await meetings.get("/v1/meetings/case-panel/2026-12-09/agenda.md")
        assert CASE in row(review.text, "Reviews carried over", CASE)
        assert row(review.text, "New cases", CASE) == ""

        for task in (await tasks.get("/v1/cases/MS-2026-CARRY1/tasks")).json():
            done = await tasks.post(f"/v1/tasks/{task['task_id']}/status", json={"status": "done"})
            assert done.status_code == 200
        await eventually(
            lambda: meetings.get("/v1/meetings/case-panel/2026-12-09/agenda.md"),
            lambda r: "MS-2026-CARRY1" not in r.text,
            what="closed case drops off",
        )
        # Every task event casework published is on the broker and the scheduler has handled it:
        # the meeting it was first listed for still shows the case, as history of that agenda.
        await wait_outbox_relayed(casework_db)
        await wait_consumed(
            kafka_bootstrap, "meeting_scheduler.tasks", [TASKS.full_name(topic_prefix)]
        )
        assert (
            "MS-2026-CARRY1"
            in (await meetings.get("/v1/meetings/case-panel/2026-12-02/agenda.md")).text
        )
