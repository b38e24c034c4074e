"""Intake's and casework's endpoints for the web console, in memory: a case's summary without any
identifier (a canary contact proves it), tasks with `overdue` by the service clock, an onward
referral's organisation, method, date and outcome through to the case's history, and who may
call each."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from faststream import TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from services.intake.adapters.tables import cases as intake_cases
from services.intake.adapters.vault import VaultCipher
from services.intake.domain import UrgencyPolicy
from services.intake.handlers import IntakeDeps
from services.intake.http import build_http_app as build_intake_http
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from shared.clock import FixedClock
from shared.db import create_engine
from shared.events import SupportNeed, Urgency
from shared.staff_auth import Staff, StaffAuth, StaffOidcSettings, StaffRole
from shared.topics import REFERRALS
from tests.support.events import referral
from tests.support.signing import publish_signed
from tests.support.system import (
    STAFF_TOKENS,
    TEST_SETTINGS_CASEWORK,
    TEST_SETTINGS_INTAKE,
    TEST_VAULT_KEY,
    signed,
)
from tests.unit.builders import example_dict

# --- intake: a case's summary ----------------------------------------------------------------

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # after the example's recorded_at (27 Nov 22:41Z)
CANARY_NAME = "Ottoline Canarywood"
CANARY_POLICE_REFERENCE = "NFK/CANARY/731942"
CANARY_OFFICER = "PC Bartholomew Canaryfield"
CANARY_NOTES = "Canary note: met at the car wash on Quayside"
READER_TOKEN = "reader-token-canary"
ROLE_TOKENS = {
    "tok-advisor": Staff("advisor-day", frozenset({StaffRole.ADVISOR})),
    "tok-head": Staff("head-of-service", frozenset({StaffRole.HEAD_OF_SERVICE})),
    "tok-coordinator": Staff("coordinator", frozenset({StaffRole.MEETING_COORDINATOR})),
}


def canary_contact(immediate_risk: bool = True) -> dict[str, Any]:
    document = example_dict()
    document["police_reference"] = CANARY_POLICE_REFERENCE
    document["person"]["name"] = CANARY_NAME
    document["officer"]["name"] = CANARY_OFFICER
    document["notes"] = CANARY_NOTES
    document["immediate_risk"] = immediate_risk
    return document


@dataclass
class Intake:
    client: httpx.AsyncClient  # the service's own app: police POSTs, its vault readers' tokens
    console: httpx.AsyncClient  # the same routes and database, with a token for each role
    clock: FixedClock
    database_url: str

    async def post(self, document: dict[str, Any]) -> httpx.Response:
        body = json.dumps(document).encode()
        headers = signed(body, timestamp=int(self.clock.now().timestamp()))
        return await self.client.post("/v1/contacts", content=body, headers=headers)


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    clock = FixedClock(T0)
    database_url = f"sqlite+aiosqlite:///{tmp_path}/intake.sqlite3"
    settings = IntakeSettings(
        SAFEGUARDING_ENV="test", verify_topics_on_start=False, outbox_poll_seconds=0.2,
        database_url=database_url, vault_readers={"reader": READER_TOKEN}, **TEST_SETTINGS_INTAKE,
    )  # fmt: skip
    app = create_intake(settings, clock)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(TestKafkaBroker(app.kafka_broker))
        await stack.enter_async_context(TestApp(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app.http_app), base_url="http://i")
        )
        engine = create_engine(database_url)
        stack.push_async_callback(engine.dispose)
        # Static tokens of every role are for tests only; in service they come from OIDC claims.
        deps = IntakeDeps(
            engine=engine, vault=VaultCipher.from_base64("test-1", TEST_VAULT_KEY, {}),
            clock=clock, policy=UrgencyPolicy(), referrals_topic=REFERRALS.name,
            on_commit=lambda: None,
        )  # fmt: skip
        console_app = build_intake_http(
            deps, max_body_bytes=settings.max_body_bytes, police_keys={},
            signatures_required=True, signature_tolerance=timedelta(minutes=5),
            staff_auth=StaffAuth(StaffOidcSettings(), static_tokens=ROLE_TOKENS, deployed=False),
        )  # fmt: skip
        console = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=console_app), base_url="http://c")
        )
        yield Intake(client, console, clock, database_url)


async def test_case_summary_has_decisions_and_dates_and_no_identifier(intake: Intake) -> None:
    opened = await intake.post(canary_contact())
    assert opened.status_code == 202
    reference = opened.json()["case_reference"]
    advisor = {"Authorization": "Bearer tok-advisor"}

    response = await intake.console.get(f"/v1/cases/{reference}", headers=advisor)
    assert response.status_code == 200
    # The example: an adult (born 1990), consent declined, at immediate risk, in Great Yarmouth.
    assert response.json() == {
        "case_reference": reference, "received_at": "2026-11-28T09:00:00Z",
        "updated_at": "2026-11-28T09:00:00Z", "corrected": False, "pathway": "duty_to_notify",
        "urgency": "immediate", "district": "great_yarmouth", "personal_data": "held",
        "personal_data_purged_at": None,
    }  # fmt: skip

    engine = create_engine(intake.database_url)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(sa.select(intake_cases))).one()
    finally:
        await engine.dispose()
    identifiers = [
        CANARY_NAME, "Canarywood", CANARY_POLICE_REFERENCE, "731942", CANARY_OFFICER,
        CANARY_NOTES, "1990-05-17", "+441603555000", "j.example@police.example", "NR30",
        "Op Example", row.fingerprint,
    ]  # fmt: skip
    assert row.police_reference == CANARY_POLICE_REFERENCE, "the canary did reach intake"
    for identifier in identifiers:
        assert identifier not in response.text, identifier
    # The vault does hold them: the summary leaves them out, not the fixture.
    vault = await intake.client.get(
        f"/v1/cases/{reference}/personal-data",
        params={"purpose": "checking the summary test"},
        headers={"Authorization": f"Bearer {READER_TOKEN}"},
    )
    assert CANARY_NAME in vault.text

    # A changed contact (the risk has passed) corrects the case.
    intake.clock.advance(timedelta(hours=2))
    assert (await intake.post(canary_contact(immediate_risk=False))).json()["outcome"] == "updated"
    corrected = (await intake.console.get(f"/v1/cases/{reference}", headers=advisor)).json()
    assert (corrected["urgency"], corrected["corrected"]) == ("priority", True)
    assert (corrected["received_at"], corrected["updated_at"]) == (
        "2026-11-28T09:00:00Z", "2026-11-28T11:00:00Z",
    )  # fmt: skip
    for identifier in identifiers:
        assert identifier not in json.dumps(corrected), identifier


async def test_case_summary_roles_and_unknown_case(intake: Intake) -> None:
    reference = (await intake.post(canary_contact())).json()["case_reference"]
    path = f"/v1/cases/{reference}"

    async def status(client: httpx.AsyncClient, token: str | None, at: str = path) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return (await client.get(at, headers=headers)).status_code

    assert await status(intake.console, None) == 401
    assert await status(intake.console, "forged") == 401
    assert await status(intake.console, "tok-coordinator") == 403
    assert await status(intake.console, "tok-advisor") == 200
    assert await status(intake.console, "tok-head") == 200
    assert await status(intake.client, READER_TOKEN) == 200, "a vault reader, as the service wires"
    assert await status(intake.console, "tok-advisor", "/v1/cases/MS-2026-NOSUCH") == 404


# --- casework: tasks, referrals, a case's history ---------------------------------------------

MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # advisor-day is on duty (08:00-20:00)
CASE = "MS-2026-CWCON1"
ADVISOR_DAY = {"Authorization": f"Bearer {STAFF_TOKENS['advisor-day']}"}
ADVISOR_NIGHT = {"Authorization": f"Bearer {STAFF_TOKENS['advisor-night']}"}
HEAD = {"Authorization": f"Bearer {STAFF_TOKENS['head-of-service']}"}


@dataclass
class Casework:
    broker: KafkaBroker
    client: httpx.AsyncClient
    clock: FixedClock

    async def tasks(self, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/tasks", params=params, headers=headers)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    async def task_of(self, kind: str) -> dict[str, Any]:
        return next(task for task in await self.tasks(HEAD) if task["kind"] == kind)

    async def set_status(self, task_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.post(f"/v1/tasks/{task_id}/status", json=body, headers=ADVISOR_DAY)


@pytest.fixture
async def casework(tmp_path: Path) -> AsyncIterator[Casework]:
    clock = FixedClock(MONDAY)
    settings = CaseworkSettings(
        **{**TEST_SETTINGS_CASEWORK,
           # A signed-in person without a casework role (the rota's meeting coordinator).
           "staff_tokens": {**STAFF_TOKENS, "coordinator": "test-token-coordinator"},
           "chase_poll_seconds": 3600.0},  # the chaser's reminders are not what is tested here
        SAFEGUARDING_ENV="test", verify_topics_on_start=False, outbox_poll_seconds=0.2,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3",
    )  # fmt: skip
    app = create_casework(settings, clock)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(TestKafkaBroker(app.kafka_broker))
        await stack.enter_async_context(TestApp(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app.http_app), base_url="http://c")
        )
        event = referral(
            CASE, MONDAY, Urgency.PRIORITY,
            support_needs=(SupportNeed.HEALTHCARE, SupportNeed.HOUSING),
        )  # fmt: skip
        await publish_signed(app.kafka_broker, event, REFERRALS.name)
        yield Casework(app.kafka_broker, client, clock)


async def test_tasks_by_several_statuses_leave_the_closed_ones_out(casework: Casework) -> None:
    """The console's "My tasks" asks for `status=open&status=in_progress`: the tasks still to do,
    not every task ever closed."""
    every = await casework.tasks(HEAD)
    first_contact = await casework.task_of("first_contact")
    healthcare = await casework.task_of("healthcare")
    started = await casework.set_status(healthcare["task_id"], {"status": "in_progress"})
    assert started.status_code == 200, started.text
    closed = await casework.set_status(first_contact["task_id"], {"status": "done"})
    assert closed.status_code == 200, closed.text

    active = await casework.tasks(HEAD, status=["open", "in_progress"], sort="due_at")
    assert {task["task_id"] for task in active} == {
        task["task_id"] for task in every if task["task_id"] != first_contact["task_id"]
    }
    assert {task["status"] for task in active} == {"open", "in_progress"}
    assert [t["kind"] for t in await casework.tasks(HEAD, status="done")] == ["first_contact"]
    assert [t["kind"] for t in await casework.tasks(HEAD, status="in_progress")] == ["healthcare"]
    assert len(await casework.tasks(HEAD)) == len(every)  # no status: every task, as before
    refused = await casework.client.get(
        "/v1/tasks", params={"status": ["open", "closed"]}, headers=HEAD
    )
    assert refused.status_code == 422


async def test_my_tasks_by_deadline_with_overdue_by_the_service_clock(casework: Casework) -> None:
    mine = await casework.tasks(ADVISOR_DAY, assignee="advisor-day", sort="due_at")
    # DOMAIN.md: first contact within 24 h; healthcare by the close (17:00) of the next working
    # day; housing within 5 working days. Nothing is overdue yet.
    assert [(task["kind"], task["due_at"], task["overdue"]) for task in mine] == [
        ("first_contact", "2026-12-01T10:00:00Z", False),
        ("healthcare", "2026-12-01T17:00:00Z", False),
        ("housing", "2026-12-07T17:00:00Z", False),
    ]

    casework.clock.advance(timedelta(hours=25))  # Tuesday 11:00: first contact is overdue
    mine = await casework.tasks(ADVISOR_DAY, assignee="advisor-day", sort="due_at")
    assert [(task["kind"], task["overdue"]) for task in mine] == [
        ("first_contact", True), ("healthcare", False), ("housing", False),
    ]  # fmt: skip
    overdue = await casework.tasks(ADVISOR_DAY, assignee="advisor-day", overdue="true")
    assert [(task["kind"], task["overdue"]) for task in overdue] == [("first_contact", True)]
    single = await casework.client.get(f"/v1/tasks/{overdue[0]['task_id']}", headers=ADVISOR_DAY)
    assert single.json()["overdue"] is True

    # The head of service's "overdue tasks by advisor": every overdue task, with its assignee.
    first_contact = await casework.task_of("first_contact")
    moved = await casework.client.post(
        f"/v1/tasks/{first_contact['task_id']}/assignee", json={"person_id": "advisor-night"},
        headers=HEAD,
    )  # fmt: skip
    assert moved.json()["overdue"] is True
    casework.clock.advance(timedelta(hours=7))  # Tuesday 18:00: healthcare is overdue as well
    by_advisor: dict[str, list[str]] = {}
    for task in await casework.tasks(HEAD, overdue="true"):
        by_advisor.setdefault(task["assignee"], []).append(task["kind"])
    assert by_advisor == {"advisor-night": ["first_contact"], "advisor-day": ["healthcare"]}
    assert await casework.tasks(ADVISOR_DAY, overdue="true", assignee="advisor-night") == []

    done = await casework.client.post(
        f"/v1/tasks/{first_contact['task_id']}/status", json={"status": "done"}, headers=HEAD
    )
    assert (done.json()["status"], done.json()["overdue"]) == ("done", False)


async def test_referral_fields_round_trip_into_the_case_history(casework: Casework) -> None:
    housing = await casework.task_of("housing")
    yesterday = "2026-11-29"
    referred = await casework.set_status(
        housing["task_id"],
        {"status": "referred", "organisation": "housing_options", "method": "online_form",
         "referred_on": yesterday},
    )  # fmt: skip
    assert referred.status_code == 200, referred.text
    view = referred.json()
    assert (view["status"], view["organisation"], view["referral_method"], view["referred_on"]) == (
        "referred", "housing_options", "online_form", yesterday,
    )  # fmt: skip
    assert view["outcome"] is None
    casework.clock.advance(timedelta(days=2))
    done = await casework.set_status(
        housing["task_id"], {"status": "done", "outcome": "on the council's housing register"}
    )
    assert done.json()["outcome"] == "on the council's housing register"
    assert done.json()["referral_method"] == "online_form", "kept from the referral"

    # No date given: the referral was made today (London).
    healthcare = await casework.task_of("healthcare")
    gp = await casework.set_status(
        healthcare["task_id"], {"status": "referred", "organisation": "gp", "method": "phone",
                                "outcome": "registered with a GP"},
    )  # fmt: skip
    assert (gp.json()["referred_on"], gp.json()["outcome"]) == (
        "2026-12-02",
        "registered with a GP",
    )

    history = await casework.client.get(f"/v1/cases/{CASE}/history", headers=ADVISOR_DAY)
    assert history.status_code == 200
    entries = history.json()
    assert [(entry["kind"], entry["change"], entry["to_value"]) for entry in entries] == [
        ("first_contact", "opened", "open"), ("healthcare", "opened", "open"),
        ("housing", "opened", "open"), ("housing", "status", "referred"),
        ("housing", "status", "done"), ("healthcare", "status", "referred"),
    ]  # fmt: skip
    referral_entry = entries[3]
    assert {key: referral_entry[key] for key in (
        "actor", "from_value", "organisation", "referral_method", "referred_on", "outcome", "at",
    )} == {
        "actor": "advisor-day", "from_value": "open", "organisation": "housing_options",
        "referral_method": "online_form", "referred_on": yesterday, "outcome": None,
        "at": "2026-11-30T10:00:00Z",
    }  # fmt: skip
    assert (entries[4]["outcome"], entries[4]["at"]) == (
        "on the council's housing register", "2026-12-02T10:00:00Z",
    )  # fmt: skip
    assert (entries[5]["organisation"], entries[5]["referral_method"], entries[5]["outcome"]) == (
        "gp", "phone", "registered with a GP",
    )  # fmt: skip
    # The head of service sees the same; another advisor does not see advisor-day's tasks.
    assert (await casework.client.get(f"/v1/cases/{CASE}/history", headers=HEAD)).json() == entries
    night = await casework.client.get(f"/v1/cases/{CASE}/history", headers=ADVISOR_NIGHT)
    assert night.json() == []
    unknown = await casework.client.get("/v1/cases/MS-2026-NOSUCH/history", headers=HEAD)
    assert unknown.json() == []


async def test_a_referral_is_validated(casework: Casework) -> None:
    task = await casework.task_of("housing")
    tomorrow = (MONDAY.date() + timedelta(days=1)).isoformat()
    for body, expected in (
        (
            {"status": "referred", "organisation": "housing_options", "method": "carrier_pigeon"},
            422,
        ),
        ({"status": "referred", "organisation": "housing_options", "referred_on": tomorrow}, 422),
        ({"status": "referred", "organisation": "nowhere", "method": "phone"}, 409),
        ({"status": "in_progress", "method": "phone"}, 409),
        ({"status": "in_progress", "referred_on": "2026-11-01"}, 409),
    ):
        response = await casework.set_status(task["task_id"], body)
        assert response.status_code == expected, (body, response.text)
    unchanged = await casework.task_of("housing")
    assert (unchanged["status"], unchanged["referral_method"], unchanged["referred_on"]) == (
        "open", None, None,
    )  # fmt: skip
    today = await casework.set_status(
        task["task_id"],
        {"status": "referred", "organisation": "housing_options", "referred_on": str(date(2026, 11, 30))},
    )  # fmt: skip
    assert today.status_code == 200, "today is not the future"


async def test_casework_console_endpoints_refuse_the_wrong_people(casework: Casework) -> None:
    task = await casework.task_of("housing")
    for path in ("/v1/tasks", f"/v1/tasks/{task['task_id']}", f"/v1/cases/{CASE}/history"):
        assert (await casework.client.get(path)).status_code == 401, path
        coordinator = {"Authorization": "Bearer test-token-coordinator"}
        assert (await casework.client.get(path, headers=coordinator)).status_code == 403, path
