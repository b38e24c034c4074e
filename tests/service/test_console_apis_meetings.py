"""The meeting scheduler's endpoints for the web console, in memory: the agenda as JSON (in the
PDF's order, after a reorder, with withdrawn, deferred, carried-over items and any other business),
publishing now (idempotent, audited), a case's place on agendas, and who may call each."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
import sqlalchemy as sa
from faststream import AckPolicy, TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.meeting_scheduler.adapters.tables import staff_actions
from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.http import build_http_app
from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.publishing import Publisher
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.db import create_engine
from shared.events import Urgency
from shared.staff_auth import Staff, StaffAuth, StaffOidcSettings, StaffRole
from shared.topics import AGENDA, REFERRALS
from tests.support.databases import wait_outbox_relayed
from tests.support.events import referral
from tests.support.signing import publish_signed
from tests.support.system import TEST_SETTINGS_MEETINGS
from tests.support.waiting import wait_until

# Sunday 29 Nov 2026, 12:00: the case panel meets Wed 2 Dec 10:00 (cut-off Mon 30 Nov 12:00, the
# agenda goes out by itself Mon 30 Nov 10:00), then Wed 9 Dec; the one before was Wed 25 Nov.
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MEETING = "/v1/meetings/case-panel/2026-12-02"
COORDINATOR = {"Authorization": "Bearer test-token-coordinator"}
ROUTINE, PRIORITY, IMMEDIATE = "MS-2026-CONRT1", "MS-2026-CONPR2", "MS-2026-CONIM3"
WITHDRAWN, DEFERRED, CARRIED = "MS-2026-CONWD4", "MS-2026-CONDF5", "MS-2026-CONRV6"
ROLE_TOKENS = {
    "tok-advisor": Staff("advisor-day", frozenset({StaffRole.ADVISOR})),
    "tok-head": Staff("head-of-service", frozenset({StaffRole.HEAD_OF_SERVICE})),
    "tok-coordinator": Staff("coordinator", frozenset({StaffRole.MEETING_COORDINATOR})),
    "tok-vault": Staff("reader", frozenset({StaffRole.VAULT_READER})),
}


@dataclass
class Scheduler:
    broker: KafkaBroker
    client: httpx.AsyncClient  # the service's own HTTP app, as the coordinator
    roles: httpx.AsyncClient  # the same routes and database, with a token for each role
    clock: FixedClock
    database_url: str
    published_versions: list[int]

    async def actions(self, action: str) -> list[sa.Row[Any]]:
        engine = create_engine(self.database_url)
        try:
            async with engine.connect() as connection:
                query = sa.select(staff_actions).where(staff_actions.c.action == action)
                return list((await connection.execute(query)).all())
        finally:
            await engine.dispose()


@pytest.fixture
async def scheduler(tmp_path: Path) -> AsyncIterator[Scheduler]:
    clock = FixedClock(NOW)
    database_url = f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3"
    settings = SchedulerSettings(
        SAFEGUARDING_ENV="test", verify_topics_on_start=False, outbox_poll_seconds=0.1,
        publish_poll_seconds=0.1, database_url=database_url, **TEST_SETTINGS_MEETINGS,
    )  # fmt: skip
    app = create_scheduler(settings, clock)
    versions: list[int] = []

    @app.kafka_broker.subscriber(AGENDA.name, group_id="probe", ack_policy=AckPolicy.ACK)
    async def on_agenda(body: dict[str, Any]) -> None:
        if body["event_type"] == "agenda.published.v1":
            versions.append(body["version"])

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(TestKafkaBroker(app.kafka_broker))
        await stack.enter_async_context(TestApp(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app.http_app),
                base_url="http://m",
                headers=COORDINATOR,
            )
        )
        # Static tokens of every role are for tests only; in service they come from OIDC claims.
        engine = create_engine(database_url)
        stack.push_async_callback(engine.dispose)
        calendar = load_calendar(settings.calendar_file)
        role_app = build_http_app(
            engine, calendar, clock,
            StaffAuth(StaffOidcSettings(), static_tokens=ROLE_TOKENS, deployed=False),
            Publisher(engine, calendar, clock, AGENDA.name, lambda: None),
        )  # fmt: skip
        roles = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=role_app), base_url="http://r")
        )
        yield Scheduler(app.kafka_broker, client, roles, clock, database_url, versions)


async def refer(scheduler: Scheduler, reference: str, urgency: Urgency, at: datetime) -> None:
    await publish_signed(scheduler.broker, referral(reference, at, urgency), REFERRALS.name)


async def fill_the_agenda(scheduler: Scheduler) -> None:
    for reference, urgency in (
        (ROUTINE, Urgency.ROUTINE), (PRIORITY, Urgency.PRIORITY), (IMMEDIATE, Urgency.IMMEDIATE),
        (WITHDRAWN, Urgency.PRIORITY), (DEFERRED, Urgency.ROUTINE),
    ):  # fmt: skip
        await refer(scheduler, reference, urgency, NOW)
    # Referred on Fri 20 Nov: before the 25 Nov meeting's cut-off, so it was listed there, and,
    # with no task closed, it is carried over to 2 Dec as a review.
    await refer(scheduler, CARRIED, Urgency.PRIORITY, datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    client = scheduler.client
    withdrawn = await client.post(
        f"{MEETING}/items/{WITHDRAWN}/withdraw", json={"reason": "duplicate of another case"}
    )
    assert withdrawn.status_code == 204
    assert (await client.post(f"{MEETING}/items/{DEFERRED}/defer")).status_code == 200
    added = await client.post(f"{MEETING}/other-business", json={"text": "Training dates"})
    assert added.status_code == 204


def references(items: list[dict[str, Any]]) -> list[str]:
    return [item["case_reference"] for item in items]


def order_in(text: str, wanted: list[str]) -> list[str]:
    """The references as they appear in a document's text, by first appearance."""
    return sorted(wanted, key=text.index)


async def test_agenda_as_json_is_the_pdf_order_before_and_after_a_reorder(
    scheduler: Scheduler,
) -> None:
    await fill_the_agenda(scheduler)
    client = scheduler.client
    new = [ROUTINE, PRIORITY, IMMEDIATE]

    agenda = (await client.get(f"{MEETING}/agenda")).json()
    # DOMAIN.md: most urgent first, then oldest.
    assert references(agenda["new_items"]) == [IMMEDIATE, PRIORITY, ROUTINE]

    order = [ROUTINE, IMMEDIATE, PRIORITY]
    assert (
        await client.post(f"{MEETING}/order", json={"case_references": order})
    ).status_code == 204
    response = await client.get(f"{MEETING}/agenda")
    assert response.status_code == 200
    agenda = response.json()
    assert references(agenda["new_items"]) == order
    assert [item["position"] for item in agenda["new_items"]] == [1, 2, 3]
    pdf = (await client.get(f"{MEETING}/agenda.pdf")).content
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert order_in(pdf_text, new) == order
    markdown = (await client.get(f"{MEETING}/agenda.md")).text
    assert order_in(markdown, new) == order

    assert agenda["series_id"] == "case-panel"
    assert agenda["kind"] == "case_panel"
    assert agenda["title"] == "Multi-agency safeguarding meeting (modern slavery case panel)"
    assert agenda["starts_at"] == "2026-12-02T10:00:00Z"
    assert agenda["cutoff_at"] == "2026-11-30T12:00:00Z"
    assert agenda["publish_at"] == "2026-11-30T10:00:00Z"
    immediate = agenda["new_items"][1]
    assert immediate == {
        "position": 2, "case_reference": IMMEDIATE, "urgency": "immediate", "district": "norwich",
        "exploitation_types": ["labour"], "open_needs": ["healthcare"], "overdue_actions": [],
        "late": False, "added_at": "2026-11-29T12:00:00Z",
        "assigned_advisor": None, "advisor_status": "not_yet_acknowledged",
        "onward_referrals": [],
    }  # fmt: skip
    assert references(agenda["review_items"]) == [CARRIED]
    assert agenda["review_items"][0]["position"] == 1
    assert agenda["actions_due"] == []
    assert agenda["withdrawn_items"] == [
        {"case_reference": WITHDRAWN, "urgency": "priority", "reason": "duplicate of another case",
         "withdrawn_at": "2026-11-29T12:00:00Z", "withdrawn_by": "coordinator"},
    ]  # fmt: skip
    assert agenda["deferred_items"] == [
        {"case_reference": DEFERRED, "deferred_to": "2026-12-09T10:00:00Z",
         "deferred_at": "2026-11-29T12:00:00Z", "deferred_by": "coordinator"},
    ]  # fmt: skip
    assert agenda["other_business"] == [{"text": "Training dates", "added_by": "coordinator"}]
    assert agenda["learning_themes"] == []
    for gone in (WITHDRAWN, DEFERRED):
        assert gone not in markdown


async def test_publishing_now_is_idempotent_audited_and_revised_after_a_change(
    scheduler: Scheduler,
) -> None:
    await fill_the_agenda(scheduler)
    client = scheduler.client
    before = (await client.get(f"{MEETING}/agenda")).json()
    assert (before["published"], before["published_version"], before["published_at"]) == (
        False, None, None,
    )  # fmt: skip
    assert before["changed_since_publication"] is False

    first = await client.post(f"{MEETING}/publish")
    assert first.status_code == 200
    expected = {
        "series_id": "case-panel", "starts_at": "2026-12-02T10:00:00Z", "published": True,
        "published_version": 1, "published_at": "2026-11-29T12:00:00Z",
        "changed_since_publication": False, "publish_at": "2026-11-30T10:00:00Z",
    }  # fmt: skip
    assert first.json() == expected
    scheduler.clock.advance(timedelta(minutes=5))
    again = await client.post(f"{MEETING}/publish")
    assert again.status_code == 200
    assert again.json() == expected, "publishing an unchanged agenda again changes nothing"
    await wait_until(lambda: scheduler.published_versions == [1], within=5, what="version 1")
    await wait_outbox_relayed(scheduler.database_url)
    assert scheduler.published_versions == [1]
    audited = await scheduler.actions("agenda.publish")
    assert [(row.person_id, row.detail) for row in audited] == [("coordinator", "version 1")]
    agenda = (await client.get(f"{MEETING}/agenda")).json()
    assert {key: agenda[key] for key in expected} == expected

    await client.post(f"{MEETING}/other-business", json={"text": "Venue change"})
    changed = (await client.get(f"{MEETING}/agenda")).json()
    assert changed["changed_since_publication"] is True
    revised = (await client.post(f"{MEETING}/publish")).json()
    assert revised["published_version"] == 2
    assert revised["published_at"] == "2026-11-29T12:05:00Z"
    assert revised["changed_since_publication"] is False
    await wait_until(lambda: scheduler.published_versions == [1, 2], within=5, what="version 2")
    assert len(await scheduler.actions("agenda.publish")) == 2

    past = await client.post("/v1/meetings/case-panel/2026-11-25/publish")
    assert past.status_code == 409
    assert (await client.post("/v1/meetings/case-panel/2026-12-03/publish")).status_code == 404


async def test_a_case_on_agendas_listed_deferred_withdrawn_discussed(scheduler: Scheduler) -> None:
    await fill_the_agenda(scheduler)
    roles = scheduler.roles
    advisor = {"Authorization": "Bearer tok-advisor"}

    async def entries(reference: str) -> list[dict[str, Any]]:
        response = await roles.get(f"/v1/cases/{reference}/agenda-items", headers=advisor)
        assert response.status_code == 200
        found: list[dict[str, Any]] = response.json()
        return found

    def entry(day: str, status: str, at: str | None, **rest: Any) -> dict[str, Any]:
        return {
            "series_id": "case-panel",
            "series_title": "Multi-agency safeguarding meeting (modern slavery case panel)",
            "meeting_starts_at": f"{day}T10:00:00Z", "meeting_date": day, "status": status,
            "at": at, "review": False, "late": False, "deferred_to": None, **rest,
        }  # fmt: skip

    assert await entries(PRIORITY) == [entry("2026-12-02", "listed", "2026-11-29T12:00:00Z")]
    assert await entries(WITHDRAWN) == [entry("2026-12-02", "withdrawn", "2026-11-29T12:00:00Z")]
    assert await entries(DEFERRED) == [
        entry("2026-12-02", "deferred", "2026-11-29T12:00:00Z",
              deferred_to="2026-12-09T10:00:00Z"),
        entry("2026-12-09", "listed", "2026-11-29T12:00:00Z"),
    ]  # fmt: skip
    assert await entries(CARRIED) == [
        entry("2026-11-25", "discussed", "2026-11-25T10:00:00Z"),
        entry("2026-12-02", "listed", "2026-11-25T10:00:00Z", review=True),
    ]
    assert await entries("MS-2026-NOSUCH") == []


async def test_who_may_call_the_console_endpoints(scheduler: Scheduler) -> None:
    await fill_the_agenda(scheduler)
    roles = scheduler.roles
    calls = (
        ("GET", f"{MEETING}/agenda"),
        ("POST", f"{MEETING}/publish"),
        ("GET", f"/v1/cases/{PRIORITY}/agenda-items"),
    )

    async def status(method: str, path: str, token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return (await roles.request(method, path, headers=headers)).status_code

    for method, path in calls:
        assert await status(method, path, None) == 401, path
        assert await status(method, path, "not-a-token") == 401, path
        assert await status(method, path, "tok-vault") == 403, path
    assert await status("GET", f"{MEETING}/agenda", "tok-advisor") == 403
    assert await status("POST", f"{MEETING}/publish", "tok-advisor") == 403
    assert scheduler.published_versions == [], "a refused publish sends nothing"
    assert await status("GET", f"{MEETING}/agenda", "tok-head") == 200
    # The NASN learning forum (third Thursday of every third month): themes, no case.
    theme = "Debt bondage through travel loans"
    flagged = await scheduler.client.post("/v1/learning-themes", json={"theme": theme})
    assert flagged.status_code == 204
    nasn = await roles.get(
        "/v1/meetings/nasn/2027-01-21/agenda", headers={"Authorization": "Bearer tok-head"}
    )
    assert (nasn.json()["kind"], nasn.json()["learning_themes"]) == ("nasn", [theme])
    assert (nasn.json()["new_items"], nasn.json()["review_items"]) == ([], [])
    for token in ("tok-advisor", "tok-head", "tok-coordinator"):
        assert await status("GET", f"/v1/cases/{PRIORITY}/agenda-items", token) == 200, token
    assert await status("POST", f"{MEETING}/publish", "tok-head") == 200
    assert [(row.person_id, row.detail) for row in await scheduler.actions("agenda.publish")] == [
        ("head-of-service", "version 1")
    ]
