"""Casework on the real broker, SQLite and PostgreSQL: tasks with configured deadlines, no
duplicates from replays or out-of-order events, chasing exactly once per threshold across a
restart, and an API that keeps advisors to their own tasks."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from shared.clock import LONDON, FixedClock
from shared.events import (
    AlertAcknowledgedV1,
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    ReferralUpdatedV1,
    SupportNeed,
    Urgency,
)
from shared.topics import ALERTS, REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.kafka import produce, read_all, wait_consumed
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

NEEDS = (
    SupportNeed.SAFE_ACCOMMODATION,
    SupportNeed.HEALTHCARE,
    SupportNeed.LEGAL_ADVICE,
    SupportNeed.INTERPRETER,
)


def referral(
    reference: str, occurred_at: datetime, needs: tuple[SupportNeed, ...] = NEEDS, **changes: Any
) -> ReferralOpenedV1:
    fields: dict[str, Any] = dict(
        occurred_at=occurred_at, correlation_id=f"c-{reference}", producer="intake",
        case_reference=reference, force_code="NFK", recorded_at=occurred_at - timedelta(hours=1),
        district=District.NORWICH, exploitation_types=(ExploitationType.LABOUR,),
        pathway=Pathway.DUTY_TO_NOTIFY, age_unknown=False, urgency=Urgency.PRIORITY,
        immediate_risk=False, nrm_consent=NrmConsent.DECLINED, support_needs=needs,
    )  # fmt: skip
    return ReferralOpenedV1(**(fields | changes))


def casework(kafka: str, prefix: str, database_url: str, clock: FixedClock | None = None) -> Any:
    settings = CaseworkSettings(
        **system.common(kafka, prefix, database_url), **system.TEST_SETTINGS_CASEWORK
    )
    return create_casework(settings, clock)


async def publish(kafka: str, prefix: str, topic: str, payload: str) -> None:
    await produce(kafka, f"{prefix}{topic}", payload.encode())


async def test_tasks_and_deadlines_across_the_christmas_bank_holidays(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    received = datetime(
        2026, 12, 24, 10, 0, tzinfo=LONDON
    )  # Thursday; Fri 25 and Mon 28 are holidays
    async with AsyncExitStack() as stack:
        running = await system.start(
            stack,
            {
                "casework": casework(
                    kafka_bootstrap, topic_prefix, await database_urls.new("casework")
                )
            },
        )
        await publish(
            kafka_bootstrap,
            topic_prefix,
            REFERRALS.name,
            referral("MS-2026-XMAS01", received).model_dump_json(),
        )
        response = await eventually(
            lambda: running.client("casework").get("/v1/cases/MS-2026-XMAS01/tasks"),
            lambda r: len(r.json()) == 6, what="N + 2 tasks",
        )  # fmt: skip
    due = {
        task["kind"]: datetime.fromisoformat(task["due_at"]).astimezone(LONDON)
        for task in response.json()
    }
    assert due == {
        "first_contact": received + timedelta(hours=24),
        "safe_accommodation": received + timedelta(hours=4),
        "healthcare": datetime(2026, 12, 29, 17, 0, tzinfo=LONDON),
        "interpreter": datetime(2026, 12, 29, 17, 0, tzinfo=LONDON),
        "confirm_duty_to_notify_submitted": datetime(2026, 12, 30, 17, 0, tzinfo=LONDON),
        "legal_advice": datetime(2027, 1, 5, 17, 0, tzinfo=LONDON),
    }


async def test_replays_and_out_of_order_events_create_no_duplicates(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    now = datetime.now(UTC)
    opened = referral("MS-2026-ORDER1", now)
    updated = ReferralUpdatedV1(**(opened.model_dump(exclude={"event_type", "event_id"}) | {
        "support_needs": (*NEEDS, SupportNeed.HOUSING), "occurred_at": now + timedelta(minutes=5)}))  # fmt: skip
    acknowledged = AlertAcknowledgedV1(
        occurred_at=now, correlation_id="c", producer="notifier", alert_id="a-1",
        case_references=("MS-2026-ORDER1",), person_id="advisor-night", via="code",
    )  # fmt: skip
    url = await database_urls.new("casework")
    async with AsyncExitStack() as stack:
        running = await system.start(
            stack, {"casework": casework(kafka_bootstrap, topic_prefix, url)}
        )
        # The acknowledgement overtakes the referral; then replays of everything.
        await publish(kafka_bootstrap, topic_prefix, ALERTS.name, acknowledged.model_dump_json())
        await publish(kafka_bootstrap, topic_prefix, REFERRALS.name, opened.model_dump_json())
        await publish(kafka_bootstrap, topic_prefix, REFERRALS.name, updated.model_dump_json())
        for event in (opened, updated):
            await publish(kafka_bootstrap, topic_prefix, REFERRALS.name, event.model_dump_json())
        await publish(kafka_bootstrap, topic_prefix, ALERTS.name, acknowledged.model_dump_json())
        response = await eventually(
            lambda: running.client("casework").get("/v1/cases/MS-2026-ORDER1/tasks"),
            lambda r: len(r.json()) == 7, what="N + 2 + housing",
        )  # fmt: skip
        # Every replay has been handled (each group commits after its handler) and every event
        # casework will publish for them is on the broker: a duplicate would show below.
        await wait_consumed(kafka_bootstrap, "casework", [REFERRALS.full_name(topic_prefix)])
        await wait_consumed(kafka_bootstrap, "casework.alerts", [ALERTS.full_name(topic_prefix)])
        await wait_outbox_relayed(url)
        response = await running.client("casework").get("/v1/cases/MS-2026-ORDER1/tasks")
    tasks = response.json()
    assert len(tasks) == 7
    assert Counter(task["kind"] for task in tasks).most_common(1)[0][1] == 1
    assert {(task["assignee"], task["assigned_by"]) for task in tasks} == {
        ("advisor-night", "acknowledged")
    }
    opened_events = [
        json.loads(r.value)
        for r in await read_all(kafka_bootstrap, [TASKS.full_name(topic_prefix)])
    ]
    # The referral's six tasks in one event, the update's housing task in a second; the replays
    # publish nothing. Each task is announced exactly once.
    announced = [e["tasks"] for e in opened_events if e["event_type"] == "tasks.opened.v1"]
    assert [len(group) for group in announced] == [6, 1]
    assert sorted(t["task_id"] for group in announced for t in group) == sorted(
        task["task_id"] for task in tasks
    )
    assert not [e for e in opened_events if e["event_type"] == "task.opened.v1"]


async def test_overdue_tasks_are_chased_once_per_threshold_also_after_a_restart(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
    clock = FixedClock(start)
    url = await database_urls.new("casework")
    await publish(kafka_bootstrap, topic_prefix, REFERRALS.name,
                  referral("MS-2026-CHASE1", start, needs=(SupportNeed.SAFE_ACCOMMODATION,)).model_dump_json())  # fmt: skip

    async def overdue_events(reference: str = "MS-2026-CHASE1") -> list[tuple[str, str]]:
        records = await read_all(kafka_bootstrap, [TASKS.full_name(topic_prefix)], quiet_for=0.5)
        events = [json.loads(r.value) for r in records]
        return [
            (e["kind"], e["threshold"])
            for e in events
            if e["event_type"] == "task.overdue.v1" and e["case_reference"] == reference
        ]

    async def chaser_passed(control: str) -> None:
        """A positive control: a new case whose safe-accommodation task is already 1 h overdue.
        Its reminder comes from a chaser pass that began after everything before it, and that
        pass saw MS-2026-CHASE1's tasks too; once casework's outbox is empty, anything that pass
        chased again would be on the topic."""
        await publish(kafka_bootstrap, topic_prefix, REFERRALS.name, referral(
            control, clock.now() - timedelta(hours=5), needs=(SupportNeed.SAFE_ACCOMMODATION,),
        ).model_dump_json())  # fmt: skip
        await eventually(
            lambda: overdue_events(control),
            lambda found: ("safe_accommodation", "due") in found,
            what=f"{control}'s reminder",
        )
        await wait_outbox_relayed(url)

    async with AsyncExitStack() as stack:
        running = await system.start(
            stack, {"casework": casework(kafka_bootstrap, topic_prefix, url, clock)}
        )
        await eventually(
            lambda: running.client("casework").get("/v1/tasks"),
            lambda r: len(r.json()) == 3,
            what="tasks",
        )
        clock.advance(
            timedelta(hours=5)
        )  # first contact (1 h... 24 h for priority) and safe accommodation (4 h)
        await eventually(
            overdue_events,
            lambda found: ("safe_accommodation", "due") in found,
            what="due reminder",
        )
    first_run = await overdue_events()
    assert first_run == [("safe_accommodation", "due")]

    # A new process on the same database, same time: nothing is chased twice.
    async with AsyncExitStack() as stack:
        await system.start(stack, {"casework": casework(kafka_bootstrap, topic_prefix, url, clock)})
        await chaser_passed("MS-2026-CHASE2")
        assert await overdue_events() == first_run
        clock.advance(
            timedelta(hours=25)
        )  # past escalation for safe accommodation; first contact due
        await eventually(
            overdue_events, lambda found: len(found) >= 3, what="escalation and next due"
        )
        await chaser_passed("MS-2026-CHASE3")
    assert Counter(await overdue_events()) == Counter(
        {
            ("safe_accommodation", "due"): 1,
            ("safe_accommodation", "escalated"): 1,
            ("first_contact", "due"): 1,
        }
    )


async def test_advisors_see_their_own_tasks_and_the_head_of_service_all(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    now = datetime.now(UTC)
    url = await database_urls.new("casework")
    async with AsyncExitStack() as stack:
        running = await system.start(
            stack, {"casework": casework(kafka_bootstrap, topic_prefix, url)}
        )
        for reference, person in (
            ("MS-2026-ROLE01", "advisor-day"),
            ("MS-2026-ROLE02", "advisor-night"),
        ):
            await publish(kafka_bootstrap, topic_prefix, ALERTS.name, AlertAcknowledgedV1(
                occurred_at=now, correlation_id="c", producer="notifier", alert_id=str(uuid.uuid4()),
                case_references=(reference,), person_id=person, via="link").model_dump_json())  # fmt: skip
            await publish(
                kafka_bootstrap,
                topic_prefix,
                REFERRALS.name,
                referral(reference, now).model_dump_json(),
            )
        head = running.client("casework")
        day = running.client("casework", as_person="advisor-day")
        await eventually(
            lambda: head.get("/v1/tasks"), lambda r: len(r.json()) == 12, what="both cases' tasks"
        )
        # The acknowledgements, on their own topic and group, may be handled after the tasks
        # exist: who each task belongs to is settled once they have been.
        await wait_consumed(kafka_bootstrap, "casework.alerts", [ALERTS.full_name(topic_prefix)])

        assert (
            await head.get("/v1/tasks", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        mine = (await day.get("/v1/tasks")).json()
        assert {t["case_reference"] for t in mine} == {"MS-2026-ROLE01"}
        theirs = next(
            t
            for t in (await head.get("/v1/tasks")).json()
            if t["case_reference"] == "MS-2026-ROLE02"
        )
        # Another advisor's task is not found, as if it did not exist (not "forbidden").
        assert (await day.get(f"/v1/tasks/{theirs['task_id']}")).status_code == 404
        assert (
            await day.post(f"/v1/tasks/{theirs['task_id']}/status", json={"status": "done"})
        ).status_code == 404
        # An advisor may hand a task on to another advisor, never to the head of service, and
        # never one they cannot see.
        assert (
            await day.post(
                f"/v1/tasks/{mine[0]['task_id']}/assignee", json={"person_id": "head-of-service"}
            )
        ).status_code == 403
        assert (
            await day.post(
                f"/v1/tasks/{theirs['task_id']}/assignee", json={"person_id": "advisor-day"}
            )
        ).status_code == 404

        task = mine[0]["task_id"]
        assert (
            await day.post(f"/v1/tasks/{task}/status", json={"status": "not_needed"})
        ).status_code == 409
        assert (await day.post(f"/v1/tasks/{task}/status", json={"status": "in_progress"})).json()[
            "status"
        ] == "in_progress"
        referred = await day.post(
            f"/v1/tasks/{task}/status",
            json={"status": "referred", "organisation": "legal_aid_provider"},
        )
        assert referred.json()["organisation"] == "legal_aid_provider"
        moved = await head.post(
            f"/v1/tasks/{theirs['task_id']}/assignee", json={"person_id": "advisor-day"}
        )
        assert moved.json()["assignee"] == "advisor-day"
        assert (await day.get(f"/v1/tasks/{theirs['task_id']}")).status_code == 200
        history = (await day.get(f"/v1/tasks/{task}/history")).json()
        assert [(h["change"], h["to_value"], h["actor"]) for h in history][-2:] == [
            ("status", "in_progress", "advisor-day"), ("status", "referred", "advisor-day")]  # fmt: skip
        figures = (await head.get("/v1/figures")).json()
        assert figures["people_supported"] == 2
        assert figures["target"] == 100
        assert figures["referrals_by_organisation"] == {"legal_aid_provider": 1}
        assert sum(figures["open_tasks_by_need"].values()) == 11
