"""Casework's quarterly figures on the real broker, SQLite and PostgreSQL: contacts met in a
financial quarter, their alerts and first contacts, lead to one CaseworkQuarterV1 on the tasks
topic once the quarter has ended in London, with counts worked out by hand below."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from shared.clock import LONDON, FixedClock
from shared.events import (
    AlertAcknowledgedV1,
    AlertRaisedV1,
    ChildReferralOpenedV1,
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    Urgency,
)
from shared.topics import ALERTS, REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import produce, read_all
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

MET = datetime(2026, 8, 10, 7, 0, tzinfo=UTC)  # police contacts in 2026-27-Q2 (July-September)


def contact(
    reference: str, recorded_at: datetime, kind: type[ReferralOpenedV1 | ChildReferralOpenedV1],
    **changes: Any,
) -> ReferralOpenedV1 | ChildReferralOpenedV1:  # fmt: skip
    fields: dict[str, Any] = dict(
        occurred_at=recorded_at + timedelta(hours=1), correlation_id=f"c-{reference}",
        producer="intake", case_reference=reference, force_code="NFK", recorded_at=recorded_at,
        district=District.NORWICH, exploitation_types=(ExploitationType.LABOUR,),
        pathway=Pathway.NRM, age_unknown=False, urgency=Urgency.PRIORITY, immediate_risk=False,
        nrm_consent=NrmConsent.GIVEN, support_needs=(SupportNeed.HEALTHCARE,),
    )  # fmt: skip
    return kind(**(fields | changes))


def alert_events(
    reference: str, raised: datetime, urgency: Urgency, minutes: float
) -> tuple[AlertRaisedV1, AlertAcknowledgedV1]:
    common: dict[str, Any] = dict(correlation_id="c", producer="notifier", alert_id=f"a-{reference}",
                                  case_references=(reference,))  # fmt: skip
    return (
        AlertRaisedV1(occurred_at=raised, kind="referral", urgency=urgency, **common),
        AlertAcknowledgedV1(occurred_at=raised + timedelta(minutes=minutes),
                            person_id="advisor-day", via="code", **common),
    )  # fmt: skip


async def test_a_closed_quarter_is_published_once_with_its_counts(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    clock = FixedClock(MET + timedelta(hours=2))  # 10 August: last closed 2026-27-Q1
    settings = CaseworkSettings(
        **system.common(kafka_bootstrap, topic_prefix, await database_urls.new("casework")),
        **(system.TEST_SETTINGS_CASEWORK | {"quarter_poll_seconds": 0.2}),
    )
    events = [
        # A: adult, declined the NRM; alert at priority acknowledged in 19 min (target 30).
        contact("MS-2026-QTR0A1", MET, ReferralOpenedV1, pathway=Pathway.DUTY_TO_NOTIFY,
                nrm_consent=NrmConsent.DECLINED),
        *alert_events("MS-2026-QTR0A1", MET + timedelta(hours=1, minutes=1), Urgency.PRIORITY, 19),
        # B: adult, consented; no alert seen.
        contact("MS-2026-QTR0B1", MET + timedelta(minutes=30), ReferralOpenedV1),
        # C: a child; alert immediate, acknowledged in 9 min (target 5): not within.
        contact("MS-2026-QTR0C1", MET, ChildReferralOpenedV1, pathway=Pathway.CHILD,
                urgency=Urgency.IMMEDIATE, immediate_risk=True),
        *alert_events("MS-2026-QTR0C1", MET + timedelta(hours=1, minutes=1), Urgency.IMMEDIATE, 9),
        # D: opened 1 October 00:30 BST, after the quarter: in no figure of it.
        contact("MS-2026-QTR0D1", datetime(2026, 9, 30, 22, 30, tzinfo=UTC), ReferralOpenedV1),
    ]  # fmt: skip
    for event in events:
        topic = ALERTS if isinstance(event, AlertRaisedV1 | AlertAcknowledgedV1) else REFERRALS
        await produce(
            kafka_bootstrap, topic.full_name(topic_prefix), event.model_dump_json().encode()
        )

    async def quarter_events() -> list[dict[str, Any]]:
        records = await read_all(kafka_bootstrap, [TASKS.full_name(topic_prefix)], quiet_for=0.5)
        found = [json.loads(record.value) for record in records]
        return [event for event in found if event["event_type"] == "casework.quarter.v1"]

    async with AsyncExitStack() as stack:
        running = await system.start(stack, {"casework": create_casework(settings, clock)})
        client = running.client("casework")
        first_contacts = await eventually(
            lambda: client.get("/v1/tasks", params={"kind": "first_contact"}),
            lambda r: len(r.json()) == 3, what="three adults' first-contact tasks",
        )  # fmt: skip
        ids = {task["case_reference"]: task["task_id"] for task in first_contacts.json()}
        # First contact done 3.5 h after A's police contact and 6 h after B's.
        for reference, done in (("MS-2026-QTR0A1", MET + timedelta(hours=3.5)),
                                ("MS-2026-QTR0B1", MET + timedelta(hours=6.5))):  # fmt: skip
            clock.advance(done - clock.now())
            answer = await client.post(
                f"/v1/tasks/{ids[reference]}/status", json={"status": "done"}
            )
            assert answer.status_code == 200, answer.text
        # Every alert event handled: the child's acknowledgement is the last one published.
        await eventually(
            lambda: client.get("/v1/reports/quarters/2026-27-Q2"),
            lambda r: r.json()["quarter_figures"]["alerts_acknowledged"] == 2, what="alerts",
        )  # fmt: skip
        assert [e["quarter"] for e in await quarter_events()] == ["2026-27-Q1"]  # nothing yet
        # 1 October 00:00:01 BST: the quarter has ended in London.
        clock.advance(datetime(2026, 10, 1, 0, 0, 1, tzinfo=LONDON) - clock.now())
        published = await eventually(
            quarter_events, lambda found: len(found) == 2, what="2026-27-Q2 published"
        )
    # Each is keyed by its quarter, so the two may sit on different partitions, which a reader
    # gets in no fixed order.
    q1, q2 = sorted(published, key=lambda event: str(event["quarter"]))
    assert (q1["quarter"], q1["version"], q1["quarter_figures"]["people_supported"]) == (
        "2026-27-Q1", 1, 0)  # fmt: skip
    assert (q2["quarter"], q2["version"], q2["starts_on"], q2["ends_on"]) == (
        "2026-27-Q2", 1, "2026-07-01", "2026-09-30")  # fmt: skip
    # Adults A and B (A declined), the child C; hours 3.5 and 6: median 4.75, nearest-rank p90 6;
    # acknowledged A (within) and C (not).
    expected = {
        "people_supported": 2, "children": 1, "adults_declined_nrm": 1, "adults_other": 1,
        "hours_to_first_contact_median": 4.75, "hours_to_first_contact_p90": 6.0,
        "alerts_acknowledged": 2, "alerts_acknowledged_within_target": 1,
        "referrals_by_need_and_outcome": {},
        "criminal_justice_by_state": {"not_yet_asked": 2, "willing_to_give_account": 0,
                                      "declined": 0, "account_given": 0, "support_booked": 0},
    }  # fmt: skip
    assert q2["quarter_figures"] == expected
    assert q2["to_date"] == expected  # the project started on 1 April 2026
    assert (q2["project_starts"], q2["target"]) == ("2026-04-01", 100)
    assert "MS-2026" not in json.dumps(published)
