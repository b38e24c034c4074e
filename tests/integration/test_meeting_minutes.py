"""Minutes and actions on the real broker, SQLite and PostgreSQL: apologies recorded before a
meeting and attendance after it show on its JSON agenda; decisions and actions recorded per item
after the meeting; the next meetings' agendas carry the open actions (owner, due date, the meeting
that raised them) until one is marked done; the minutes' text never reaches the log; and the
refusals: 401 without a token, 403 for an advisor, 404 for an unknown meeting, case or action, 409
before the meeting, 422 for bad input, none of which records anything."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

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
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.events import referral
from tests.support.kafka import produce
from tests.support.log_capture import capture_logs
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MEETING = "/v1/meetings/case-panel/2026-12-02"  # Wednesday 10:00 GMT
NEXT_MEETING = "/v1/meetings/case-panel/2026-12-09"
LATER_MEETING = "/v1/meetings/case-panel/2026-12-16"
FIRST, SECOND = "MS-2026-MINUT1", "MS-2026-MINUT2"
CANARY = "Canary decision 7f3a: refer to the GLAA labour inspection team"
ADVISOR = {"Authorization": "Bearer tok-advisor"}


async def agenda(client: httpx.AsyncClient, meeting: str) -> dict[str, Any]:
    response = await client.get(f"{meeting}/agenda")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_minutes_and_actions_carry_to_the_next_agenda(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # Sunday, before the cut-off
    database_url = await database_urls.new("meetings")
    settings = SchedulerSettings(
        **system.common(kafka_bootstrap, topic_prefix, database_url),
        **system.TEST_SETTINGS_MEETINGS,
    )
    # The invited organisations as configured, read straight from the file.
    config = yaml.safe_load((ROOT / "deploy/config/meetings.yaml").read_text())
    members = next(s["members"] for s in config["series"] if s["id"] == "case-panel")
    assert len(members) >= 5
    async with AsyncExitStack() as stack:
        running = await system.start(
            stack, {"meeting_scheduler": create_scheduler(settings, clock)}
        )
        client = running.client("meeting_scheduler")
        anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=running.apps["meeting_scheduler"].http_app),
            base_url="http://meeting_scheduler",
        )
        # The same routes on the same database with an advisor's token (tests only).
        engine = create_engine(database_url)
        stack.push_async_callback(engine.dispose)
        calendar = load_calendar(settings.calendar_file)
        advisor = Staff("advisor-day", frozenset({StaffRole.ADVISOR}))
        auth = StaffAuth(
            StaffOidcSettings(), static_tokens={"tok-advisor": advisor}, deployed=False
        )
        publisher = Publisher(engine, calendar, clock, AGENDA.name, lambda: None)
        role_app = build_http_app(engine, calendar, clock, auth, publisher)
        roles = httpx.AsyncClient(transport=httpx.ASGITransport(app=role_app), base_url="http://r")
        logs = capture_logs(stack)
        for reference in (FIRST, SECOND):
            event = referral(reference, clock.now(), Urgency.PRIORITY)
            await produce(kafka_bootstrap, REFERRALS.full_name(topic_prefix),
                          event.model_dump_json().encode(), key=reference.encode())  # fmt: skip
        await eventually(
            lambda: agenda(client, MEETING),
            lambda view: len(view["new_items"]) == 2,
            what="two new items",
        )

        # Before anything is recorded: invited = the series' members, nobody present, no apologies.
        before = await agenda(client, MEETING)
        assert before["attendance"] == {"invited": members, "present": [], "apologies": []}
        assert before["open_actions"] == []

        # Apologies arrive before the meeting; minutes must wait for it.
        sent = await client.put(
            f"{MEETING}/attendance", json={"apologies": ["Home Office Immigration Enforcement"]}
        )
        assert sent.status_code == 200, sent.text
        early = await client.post(f"{MEETING}/minutes", json={"items": [{"decision": "Too soon"}]})
        assert early.status_code == 409
        assert (await agenda(client, MEETING))["attendance"]["apologies"] == [
            "Home Office Immigration Enforcement"
        ]

        clock.advance(timedelta(days=3))  # Wednesday 2 Dec 12:00: the meeting has taken place
        present = [members[0], members[1], "Łódź City Council"]  # a guest, from abroad
        recorded = await client.put(
            f"{MEETING}/attendance",
            json={"present": present, "apologies": ["Home Office Immigration Enforcement"]},
        )
        assert recorded.status_code == 200
        assert recorded.json() == {
            "invited": members,
            "present": [members[0], members[1], "Łódź City Council"],
            "apologies": ["Home Office Immigration Enforcement"],
        }
        minutes = {
            "items": [
                {"case_reference": FIRST, "decision": CANARY, "actions": [
                    {"text": "Refer to safe accommodation", "owner": "The Salvation Army",
                     "due": "2026-12-08"},
                    {"text": "Share the intelligence report", "owner": "Norfolk Constabulary",
                     "due": "2026-12-04"},
                ]},
                {"decision": "Terms of reference agreed", "actions": [
                    {"text": "Circulate the revised terms of reference",
                     "owner": "Modern Slavery Advisor", "due": "2026-12-15"},
                ]},
                {"case_reference": SECOND, "decision": "No further multi-agency action"},
            ]
        }  # fmt: skip
        response = await client.post(f"{MEETING}/minutes", json=minutes)
        assert response.status_code == 201, response.text
        written = response.json()
        assert [(d["case_reference"], d["text"]) for d in written["decisions"]] == [
            (FIRST, CANARY),
            (None, "Terms of reference agreed"),
            (SECOND, "No further multi-agency action"),
        ]
        # By due date.
        assert [(a["owner"], a["due"], a["done"]) for a in written["actions"]] == [
            ("Norfolk Constabulary", "2026-12-04", False),
            ("The Salvation Army", "2026-12-08", False),
            ("Modern Slavery Advisor", "2026-12-15", False),
        ]
        share_id = written["actions"][0]["action_id"]
        assert (await client.get(f"{MEETING}/minutes")).json() == written

        # The next meeting's agenda carries all three open actions; the meeting that raised them
        # carries none of its own.
        raised = "2026-12-02T10:00:00Z"
        carried = (await agenda(client, NEXT_MEETING))["open_actions"]
        assert [(a["case_reference"], a["text"], a["owner"], a["due"], a["raised_at"])
                for a in carried] == [
            (FIRST, "Share the intelligence report", "Norfolk Constabulary", "2026-12-04", raised),
            (FIRST, "Refer to safe accommodation", "The Salvation Army", "2026-12-08", raised),
            (None, "Circulate the revised terms of reference", "Modern Slavery Advisor",
             "2026-12-15", raised),
        ]  # fmt: skip
        assert (await agenda(client, MEETING))["open_actions"] == []
        assert (await agenda(client, NEXT_MEETING))["attendance"]["present"] == []

        # Done: off the next agendas; marking it again keeps the first time.
        done = await client.post(f"/v1/actions/{share_id}/done")
        assert done.status_code == 200
        assert (done.json()["done"], done.json()["done_at"]) == (True, "2026-12-02T12:00:00Z")
        clock.advance(timedelta(hours=1))
        again = await client.post(f"/v1/actions/{share_id}/done")
        assert (again.status_code, again.json()["done_at"]) == (200, "2026-12-02T12:00:00Z")
        for later in (NEXT_MEETING, LATER_MEETING):
            assert [a["owner"] for a in (await agenda(client, later))["open_actions"]] == [
                "The Salvation Army", "Modern Slavery Advisor"]  # fmt: skip

        # Refusals, none of which records anything.
        action = {"text": "Visit", "owner": "Norfolk Constabulary", "due": "2026-12-10"}
        bad_bodies = [
            {"items": [{"decision": "Line one\u0007bell"}]},  # a control character
            {"items": [{"decision": "x" * 501}]},
            {"items": [{"case_reference": FIRST}]},  # neither decision nor action
            {"items": [{"decision": "Agreed", "actions": [{**action, "owner": "<b>Police</b>"}]}]},
            {"items": [{"decision": "Agreed", "actions": [{**action, "due": "2026-12-01"}]}]},
            {"items": [{"decision": "Agreed", "actions": [{**action, "due": "2028-01-01"}]}]},
            {"items": [{"decision": "Agreed", "extra": "field"}]},
            {"items": [{"decision": "Agreed"}, {"decision": "Twice"}]},
            {"items": []},
        ]
        for body in bad_bodies:
            refused = await client.post(f"{MEETING}/minutes", json=body)
            assert refused.status_code == 422, body
        for attendance in (
            {"present": ["Norfolk Constabulary"], "apologies": ["norfolk constabulary"]},
            {"present": ["A person's\nessay"]},
            {"present": ["x" * 121]},
            {"present": ["Norfolk Constabulary"] * 61},
        ):
            refused = await client.put(f"{MEETING}/attendance", json=attendance)
            assert refused.status_code == 422, attendance
        not_an_item = {"items": [{"case_reference": "MS-2026-NOTHERE", "decision": "Agreed"}]}
        assert (await client.post(f"{MEETING}/minutes", json=not_an_item)).status_code == 404
        for path in (
            "/v1/meetings/no-such-series/2026-12-02",
            "/v1/meetings/case-panel/2026-12-03",
        ):
            assert (await client.put(f"{path}/attendance", json={})).status_code == 404
            gone = await client.post(f"{path}/minutes", json={"items": [{"decision": "Agreed"}]})
            assert gone.status_code == 404
            assert (await client.get(f"{path}/minutes")).status_code == 404
        assert (await client.post(f"/v1/actions/{uuid.uuid4()}/done")).status_code == 404
        assert (await client.post("/v1/actions/not-an-id/done")).status_code == 422

        attempts = [
            ("PUT", f"{MEETING}/attendance", {"present": ["Norfolk Constabulary"]}),
            ("POST", f"{MEETING}/minutes", {"items": [{"decision": "Advisor's own decision"}]}),
            ("GET", f"{MEETING}/minutes", None),
            ("POST", f"/v1/actions/{written['actions'][1]['action_id']}/done", None),
        ]
        for method, path, body in attempts:
            assert (
                await roles.request(method, path, json=body, headers=ADVISOR)
            ).status_code == 403
            assert (await anonymous.request(method, path, json=body)).status_code == 401
        after = (await client.get(f"{MEETING}/minutes")).json()
        assert after["attendance"] == recorded.json()
        assert after["decisions"] == written["decisions"]
        assert [a["done"] for a in after["actions"]] == [True, False, False]

        assert any("minutes_recorded" in line for line in logs.lines), "logging was captured"
        assert not [line for line in logs.lines if "Canary decision" in line or "Łódź" in line]
