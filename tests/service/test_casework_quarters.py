"""Casework's side of the funder's quarterly report, on a real SQLite database (the broker in
memory): a quarter's figures and the project's to date against hand-seeded rows (plus one case
and its alert through the events casework consumes), the head-of-service-only API, and the
quarter published once by the timer across a restart, a rebuild taking the next version.

Every expected figure is worked out by hand in the comments beside the seeded rows, never by the
code under test."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from shared.clock import FixedClock
from shared.db import create_engine
from shared.events import (
    AlertAcknowledgedV1,
    AlertRaisedV1,
    NrmConsent,
    Pathway,
    ReferralUpdatedV1,
    Urgency,
)
from shared.topics import ALERTS, REFERRALS
from tests.support.events import referral
from tests.support.signing import publish_signed
from tests.support.system import STAFF_TOKENS, TEST_SETTINGS_CASEWORK
from tests.support.waiting import eventually

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # 2026-27-Q2 has ended; Q3 has not
HEAD = {"Authorization": f"Bearer {STAFF_TOKENS['head-of-service']}"}
ADVISOR = {"Authorization": f"Bearer {STAFF_TOKENS['advisor-day']}"}
Q2 = "/v1/reports/quarters/2026-27-Q2"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Seed:
    """One case: opened (UTC), hours from police contact to first contact done (None: not done,
    or the datetime it was done), its first alert (urgency, minutes to acknowledge or None),
    its criminal-justice state (None: no record)."""

    reference: str
    pathway: str
    consent: str | None
    opened: str
    first_contact_hours: float | None = None
    first_contact_done: str | None = None
    alert: tuple[str, float | None] | None = None
    engagement: str | None = None


# Police contact is recorded one hour before the case opens, for every seeded case.
SEEDS = [
    # In Q2 (1 July 00:00 BST = 30 June 23:00 UTC, to 1 October 00:00 BST = 30 Sept 23:00 UTC).
    Seed("MS-2026-QA0001", "nrm", "given", "2026-06-30T23:30", 3, None, ("immediate", 4),
         "willing_to_give_account"),
    Seed("MS-2026-QA0002", "duty_to_notify", None, "2026-08-01T10:00", 11, None,
         ("priority", 45)),  # consent unknown (before casework_0009): Duty to Notify ⇒ declined
    Seed("MS-2026-QA0003", "child", "given", "2026-08-02T10:00", None, None, ("immediate", 3)),
    Seed("MS-2026-QA0004", "nrm_decision_pending", "not_asked", "2026-09-30T22:30", None,
         "2026-10-01T10:00", ("routine", None), "declined"),  # first contact after the quarter
    Seed("MS-2026-QA0009", "nrm", "given", "2026-08-20T09:00", 7.5),
    # 1 October 00:00 BST: Q3, in neither figure.
    Seed("MS-2026-QA0005", "nrm", "given", "2026-09-30T23:00", 1, None, ("priority", 1)),
    # In Q1 (30 June 23:59 BST): the project to date only.
    Seed("MS-2026-QA0006", "nrm", "given", "2026-06-30T22:59", 2, None, ("priority", 30),
         "account_given"),  # acknowledged exactly at the 30-minute target: within
    Seed("MS-2026-QA0007", "duty_to_notify", "declined", "2026-05-01T10:00", 5),
    # Before the project started (1 April 2026 00:00 BST = 31 March 23:00 UTC): never counted.
    Seed("MS-2026-QA0008", "nrm", "given", "2026-03-31T22:00", 1, None, ("immediate", 1)),
]  # fmt: skip
# Onward referrals: (need, made on, latest outcome).
REFERRALS_MADE = [
    ("housing", date(2026, 7, 1), "accepted"),
    ("housing", date(2026, 9, 30), "made"),
    ("healthcare", date(2026, 8, 5), "declined"),
    ("legal_advice", date(2026, 6, 30), "completed"),  # Q1
    ("housing", date(2026, 10, 1), "made"),  # Q3
]
# One more adult case through the events: opened consent not asked, updated to declined; its
# alert raised at priority and acknowledged 20 minutes later (target 30).
EVENT_CASE = "MS-2026-QEV001"
EVENT_OPENED = at("2026-08-10T11:00")

# Worked out by hand from the rows above.
# Q2: adults QA0001, QA0002, QA0004, QA0009, QEV001 (5); child QA0003. Declined: QA0002 (Duty to
# Notify, consent unknown) and QEV001 (latest consent). First contact hours: 3, 11, 7.5 (QA0004's
# came after the quarter): median 7.5, nearest-rank p90 (3rd of 3) 11. Alerts acknowledged:
# QA0001 4 min of 5, QA0002 45 of 30 (missed), QA0003 3 of 5, QEV001 20 of 30: 4, 3 within.
EXPECTED_Q2 = {
    "people_supported": 5, "children": 1, "adults_declined_nrm": 2, "adults_other": 3,
    "hours_to_first_contact_median": 7.5, "hours_to_first_contact_p90": 11.0,
    "alerts_acknowledged": 4, "alerts_acknowledged_within_target": 3,
    "referrals_by_need_and_outcome": {"housing": {"accepted": 1, "made": 1},
                                      "healthcare": {"declined": 1}},
    "criminal_justice_by_state": {"not_yet_asked": 3, "willing_to_give_account": 1,
                                  "declined": 1, "account_given": 0, "support_booked": 0},
}  # fmt: skip
# To date (1 April 2026 to 30 September): plus QA0006 and QA0007 (adults; QA0007 declined).
# Hours 2, 3, 5, 7.5, 11: median 5, p90 (5th of 5) 11. Alerts: plus QA0006 (30 of 30, within).
EXPECTED_TO_DATE = EXPECTED_Q2 | {
    "people_supported": 7, "adults_declined_nrm": 3, "adults_other": 4,
    "hours_to_first_contact_median": 5.0, "alerts_acknowledged": 5,
    "alerts_acknowledged_within_target": 4,
    "referrals_by_need_and_outcome": {"housing": {"accepted": 1, "made": 1},
                                      "healthcare": {"declined": 1},
                                      "legal_advice": {"completed": 1}},
    "criminal_justice_by_state": {"not_yet_asked": 4, "willing_to_give_account": 1,
                                  "declined": 1, "account_given": 1, "support_booked": 0},
}  # fmt: skip


@dataclass
class Casework:
    app: Any
    client: httpx.AsyncClient


async def start(stack: AsyncExitStack, database_url: str, poll: float) -> Casework:
    settings = CaseworkSettings(
        **{**TEST_SETTINGS_CASEWORK, "chase_poll_seconds": 3600.0, "quarter_poll_seconds": poll},
        SAFEGUARDING_ENV="test", verify_topics_on_start=False, outbox_poll_seconds=0.2,
        database_url=database_url,
    )  # fmt: skip
    app = create_casework(settings, FixedClock(NOW))
    await stack.enter_async_context(TestKafkaBroker(app.kafka_broker))
    await stack.enter_async_context(TestApp(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app.http_app), base_url="http://c")
    )
    return Casework(app, client)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3"


async def seed_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    tables = {name: sa.table(name, *(sa.column(c) for c in columns)) for name, columns in {
        "cases": ("case_reference", "pathway", "nrm_consent", "recorded_at", "opened_at"),
        "tasks": ("task_id", "case_reference", "kind", "status", "due_at", "created_at",
                  "closed_at"),
        "case_alerts": ("case_reference", "alert_id", "urgency", "raised_at"),
        "alert_acknowledgements": ("alert_id", "acknowledged_at"),
        "criminal_justice": ("case_reference", "state", "updated_at", "updated_by"),
        "referrals": ("referral_id", "task_id", "case_reference", "kind", "made_on", "method",
                      "outcome", "created_at", "created_by", "updated_at", "updated_by"),
    }.items()}  # fmt: skip
    naive = "%Y-%m-%d %H:%M:%S.%f"  # SQLite's stored form of an instant (UTC)
    async with engine.begin() as connection:
        for seed in SEEDS:
            opened = at(seed.opened)
            recorded = opened - timedelta(hours=1)
            await connection.execute(tables["cases"].insert().values(
                case_reference=seed.reference, pathway=seed.pathway, nrm_consent=seed.consent,
                recorded_at=recorded.strftime(naive), opened_at=opened.strftime(naive)))  # fmt: skip
            done = (
                recorded + timedelta(hours=seed.first_contact_hours)
                if seed.first_contact_hours is not None
                else at(seed.first_contact_done)
                if seed.first_contact_done
                else None
            )
            if done is not None:
                await connection.execute(tables["tasks"].insert().values(
                    task_id=f"fc-{seed.reference}", case_reference=seed.reference,
                    kind="first_contact", status="done", due_at=opened.strftime(naive),
                    created_at=opened.strftime(naive), closed_at=done.strftime(naive)))  # fmt: skip
            if seed.alert is not None:
                urgency, minutes = seed.alert
                raised = opened + timedelta(minutes=2)
                await connection.execute(tables["case_alerts"].insert().values(
                    case_reference=seed.reference, alert_id=f"a-{seed.reference}",
                    urgency=urgency, raised_at=raised.strftime(naive)))  # fmt: skip
                if minutes is not None:
                    acknowledged = raised + timedelta(minutes=minutes)
                    await connection.execute(tables["alert_acknowledgements"].insert().values(
                        alert_id=f"a-{seed.reference}",
                        acknowledged_at=acknowledged.strftime(naive)))  # fmt: skip
            if seed.engagement is not None:
                await connection.execute(tables["criminal_justice"].insert().values(
                    case_reference=seed.reference, state=seed.engagement,
                    updated_at=NOW.strftime(naive), updated_by="advisor-day"))  # fmt: skip
        for number, (need, made_on, outcome) in enumerate(REFERRALS_MADE):
            await connection.execute(tables["referrals"].insert().values(
                referral_id=f"r-{number}", task_id=f"t-{number}", case_reference="MS-2026-QA0001",
                kind=need, made_on=made_on.isoformat(), method="email", outcome=outcome,
                created_at=NOW.strftime(naive), created_by="advisor-day",
                updated_at=NOW.strftime(naive), updated_by="advisor-day"))  # fmt: skip
    await engine.dispose()


async def seed_events(casework: Casework) -> None:
    broker = casework.app.kafka_broker
    opened = referral(
        EVENT_CASE, EVENT_OPENED, pathway=Pathway.NRM_DECISION_PENDING,
        nrm_consent=NrmConsent.NOT_ASKED,
    )  # fmt: skip
    updated = ReferralUpdatedV1(
        **(opened.model_dump(exclude={"event_type", "event_id"})
           | {"nrm_consent": NrmConsent.DECLINED, "occurred_at": EVENT_OPENED + timedelta(hours=2)})
    )  # fmt: skip
    raised = AlertRaisedV1(
        occurred_at=EVENT_OPENED + timedelta(minutes=5), correlation_id="c", producer="notifier",
        alert_id="alert-ev-1", kind="referral", urgency=Urgency.PRIORITY,
        case_references=(EVENT_CASE,),
    )  # fmt: skip
    acknowledged = AlertAcknowledgedV1(
        occurred_at=EVENT_OPENED + timedelta(minutes=25), correlation_id="c",
        producer="notifier", alert_id="alert-ev-1", case_references=(EVENT_CASE,),
        person_id="advisor-day", via="code",
    )  # fmt: skip
    # A reminder alert about the same case is not its alert; the acknowledgement comes first.
    reminder = raised.model_copy(update={"alert_id": "alert-ev-2", "kind": "reminder",
                                         "urgency": Urgency.ROUTINE})  # fmt: skip
    await publish_signed(broker, opened, REFERRALS.name)
    await publish_signed(broker, updated, REFERRALS.name)
    await publish_signed(broker, acknowledged, ALERTS.name)
    await publish_signed(broker, reminder, ALERTS.name)
    await publish_signed(broker, raised, ALERTS.name)
    await publish_signed(broker, raised, ALERTS.name)  # a replay changes nothing


async def test_a_quarter_s_figures_and_the_project_s_to_date(database_url: str) -> None:
    async with AsyncExitStack() as stack:
        casework = await start(stack, database_url, poll=3600.0)
        await seed_rows(database_url)
        await seed_events(casework)
        response = await casework.client.get(Q2, headers=HEAD)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["quarter_figures"] == EXPECTED_Q2
        assert body["to_date"] == EXPECTED_TO_DATE
        assert {key: body[key] for key in ("quarter", "starts_on", "ends_on", "project_starts",
                                           "target", "published_version")} == {
            "quarter": "2026-27-Q2", "starts_on": "2026-07-01", "ends_on": "2026-09-30",
            "project_starts": "2026-04-01", "target": 100, "published_version": None,
        }  # fmt: skip
        assert not any(
            "MS-2026" in json.dumps(value) for value in (body["quarter_figures"], body["to_date"])
        )
        # Only the head of service; a quarter's name, ended, within the project.
        refusals = {
            ("GET", Q2, "advisor"): 403,
            ("POST", Q2, "advisor"): 403,
            ("GET", "/v1/reports/quarters/2026-27-Q5", "head"): 422,
            ("GET", "/v1/reports/quarters/2026-28-Q1", "head"): 422,
            ("POST", "/v1/reports/quarters/2025-26-Q4", "head"): 422,  # before the project
            ("POST", "/v1/reports/quarters/2026-27-Q3", "head"): 409,  # not ended
            ("GET", "/v1/reports/quarters/2026-27-Q4", "head"): 409,  # not started
        }
        for (method, url, who), status in refusals.items():
            headers = ADVISOR if who == "advisor" else HEAD
            answer = await casework.client.request(method, url, headers=headers)
            assert answer.status_code == status, (method, url, answer.text)
        # The current quarter answers with its figures so far: QA0005 only.
        current = (
            await casework.client.get("/v1/reports/quarters/2026-27-Q3", headers=HEAD)
        ).json()
        assert current["quarter_figures"]["people_supported"] == 1
        assert current["to_date"]["people_supported"] == 8


async def quarter_events(database_url: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            payloads = (await connection.execute(sa.text("SELECT payload FROM outbox"))).scalars()
            found = [json.loads(payload) for payload in payloads]
    finally:
        await engine.dispose()
    return [event for event in found if event["event_type"] == "casework.quarter.v1"]


async def test_the_closed_quarter_publishes_once_and_a_rebuild_takes_the_next_version(
    database_url: str,
) -> None:
    async with AsyncExitStack() as stack:
        casework = await start(stack, database_url, poll=0.1)
        first = await eventually(
            lambda: quarter_events(database_url), lambda found: len(found) == 1,
            what="the closed quarter published",
        )  # fmt: skip
        assert (first[0]["quarter"], first[0]["version"]) == ("2026-27-Q2", 1)
        assert first[0]["quarter_figures"]["people_supported"] == 0
        await seed_rows(database_url)
        rebuilt = await casework.client.post(Q2, headers=HEAD)
        assert rebuilt.status_code == 200, rebuilt.text
        assert rebuilt.json()["published_version"] == 2
        assert rebuilt.json()["quarter_figures"]["people_supported"] == 4  # no event case here
    async with AsyncExitStack() as stack:  # a restart: the timer finds the quarter published
        casework = await start(stack, database_url, poll=0.1)
        await casework.client.get(Q2, headers=HEAD)
        await asyncio.sleep(0.6)  # six polls of the timer: none may publish the quarter again
        found = await quarter_events(database_url)
        assert [(e["quarter"], e["version"]) for e in found] == [
            ("2026-27-Q2", 1),
            ("2026-27-Q2", 2),
        ]
        assert found[1]["quarter_figures"]["people_supported"] == 4
        assert found[1]["to_date"]["people_supported"] == 6
        assert "MS-2026" not in json.dumps(found)
        assert (await casework.client.get(Q2, headers=HEAD)).json()["published_version"] == 2
