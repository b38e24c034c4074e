"""The notifier's console API in memory (FastStream's test broker, SQLite, a clock moved by hand):
who may call what, the alert list, acknowledging from the console stopping the escalation, and
leave and cover stored through the API changing the rota views and whom the notifier pages.

Expected times are worked out by hand from the rota below and the policy of
tests/support/notifier.write_policy (steps at 0, 10, 20 and 30 minutes: on duty, on duty, backup,
head of service). December, so London time is UTC."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from faststream import AckPolicy, TestApp
from faststream.kafka import TestKafkaBroker

from services.console import alerts_page, cases, head
from services.console.backends import Backends
from services.notifier.adapters.rota_tables import rota_changes, staff_actions
from services.notifier.adapters.tables import alerts, burst_batches
from services.notifier.main import create_app as create_notifier
from services.notifier.ports import Attachment
from services.notifier.settings import NotifierSettings
from shared.app import ServiceApp
from shared.clock import LONDON, FixedClock
from shared.db import create_engine
from shared.staff_auth import StaffRole
from shared.topics import ALERTS, REFERRALS
from tests.support.console_app import ORIGIN, console_app
from tests.support.events import referral
from tests.support.notifier import wait_escalations_finished, write_policy
from tests.support.signing import publish_signed
from tests.support.system import TEST_SETTINGS_NOTIFIER
from tests.support.waiting import wait_until

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]
TOKENS = {
    "advisor-a": "token-advisor-a",
    "advisor-b": "token-advisor-b",
    "head": "token-head",
    "coordinator": "token-coordinator",
    "children": "token-children",  # a rota role that is no staff role: signed in, no access
}
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON)  # advisor-a's day shift (08:00-20:00)


def rota_file(folder: Path) -> Path:
    """advisor-a has the days (08:00-20:00), advisor-b the nights; head is the last resort."""

    def channels(person: str) -> dict[str, str]:
        return {
            "sms": f"json://127.0.0.1:9/sms/{person}",
            "email": f"json://127.0.0.1:9/email/{person}",
        }

    rota = {
        "people": [
            {"id": "advisor-a", "role": "advisor", "channels": channels("advisor-a")},
            {"id": "advisor-b", "role": "advisor", "channels": channels("advisor-b")},
            {"id": "head", "role": "head_of_service", "channels": channels("head")},
            {"id": "coordinator", "role": "meeting_coordinator", "channels": channels("coordinator")},
            {"id": "children", "role": "childrens_safeguarding", "channels": channels("children")},
        ],
        "weekly": [
            {"days": EVERY_DAY, "start": "08:00", "end": "20:00", "person": "advisor-a"},
            {"days": EVERY_DAY, "start": "20:00", "end": "08:00", "person": "advisor-b"},
        ],
        "last_resort": "head",
    }  # fmt: skip
    path = folder / "rota.yaml"
    path.write_text(json.dumps(rota))
    return path


@dataclass
class Recorder:
    """A provider that accepts everything and remembers where each message went."""

    sent: list[tuple[str, str]] = field(default_factory=list)  # (url, body)

    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        self.sent.append((url, body))
        return True

    def people_for(self, case_reference: str) -> list[str]:
        """Who got a message about the case, in order (one entry per message)."""
        return [url.rsplit("/", 1)[1] for url, body in self.sent if case_reference in body]


@dataclass
class Notifier:
    app: ServiceApp
    clock: FixedClock
    sender: Recorder
    database_url: str
    acknowledged: list[dict[str, Any]]

    def client(self, person: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {TOKENS[person]}"} if person else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app.http_app),
            base_url="http://notifier",
            headers=headers,
        )

    async def raise_referral(self, reference: str) -> None:
        await publish_signed(
            self.app.kafka_broker, referral(reference, self.clock.now()), REFERRALS.name
        )

    async def advance(
        self, minutes: int, sends_before: int, sends_after: int, case: str | None = None
    ) -> None:
        """Move the clock and wait for the sends the steps then due bring (the clock loop polls).
        With `case`, only that case's messages are counted (a rota-gap warning may go out too)."""

        def sends() -> int:
            return len(self.sender.people_for(case) if case else self.sender.sent)

        assert sends() == sends_before
        self.clock.advance(timedelta(minutes=minutes))
        await wait_until(lambda: sends() == sends_after, what=f"{sends_after} sends")


@asynccontextmanager
async def running_notifier(folder: Path) -> AsyncIterator[Notifier]:
    clock = FixedClock(TUESDAY_10)
    sender = Recorder()
    url = f"sqlite+aiosqlite:///{folder}/notifier.sqlite3"
    settings = NotifierSettings(
        SAFEGUARDING_ENV="test", verify_topics_on_start=False, database_url=url,
        **TEST_SETTINGS_NOTIFIER | {
            "rota_file": rota_file(folder),
            "alerting_file": write_policy(folder, step_seconds=600),
            "staff_tokens": TOKENS,
        },
        dispatch_poll_seconds=0.05, outbox_poll_seconds=0.05,
    )  # fmt: skip
    app = create_notifier(settings, clock, sender)
    acknowledged: list[dict[str, Any]] = []

    @app.kafka_broker.subscriber(ALERTS.name, group_id="probe", ack_policy=AckPolicy.ACK)
    async def on_alert(body: dict[str, Any]) -> None:
        if body["event_type"] == "alert.acknowledged.v1":
            acknowledged.append(body)

    async with TestKafkaBroker(app.kafka_broker), TestApp(app):
        yield Notifier(app, clock, sender, url, acknowledged)


def at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def london(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


async def test_who_may_call_what(tmp_path: Path) -> None:
    async with running_notifier(tmp_path) as notifier:
        anonymous = notifier.client()
        change = {"kind": "leave", "person_id": "advisor-a",
                  "starts_at": "2026-12-02T08:00", "ends_at": "2026-12-02T20:00"}  # fmt: skip
        calls = [
            ("GET", "/v1/alerts", None), ("GET", "/v1/rota/on-duty", None),
            ("GET", "/v1/rota", None), ("GET", "/v1/rota/changes", None),
            ("POST", "/v1/alerts/any/acknowledgement", None),
            ("POST", "/v1/rota/changes", change), ("DELETE", "/v1/rota/changes/1", None),
        ]  # fmt: skip
        for method, path, body in calls:
            refused = await anonymous.request(method, path, json=body)
            assert (refused.status_code, refused.json()) == (401, {
                "type": "about:blank", "title": "Unauthorized", "status": 401,
                "detail": "sign-in required",
            })  # fmt: skip
            forged = await anonymous.request(
                method, path, json=body, headers={"Authorization": "Bearer token-nobody"}
            )
            assert forged.status_code == 401
            # Signed in, with no staff role at all (the children's safeguarding contact).
            assert (await notifier.client("children").request(method, path, json=body)).json() == {
                "type": "about:blank", "title": "Forbidden", "status": 403,
                "detail": "not permitted",
            }  # fmt: skip
        # The sign-in is checked before the body is read: a broken body without one is a 401.
        broken = await anonymous.post("/v1/rota/changes", content=b"{not json")
        assert broken.status_code == 401

        coordinator, advisor = notifier.client("coordinator"), notifier.client("advisor-a")
        for path in ("/v1/alerts", "/v1/rota/on-duty", "/v1/rota", "/v1/rota/changes"):
            assert (await coordinator.get(path)).status_code == 200, path
            assert (await advisor.get(path)).status_code == 200, path
        # Acknowledging is for those who respond to alerts; changing the rota for the head only.
        assert (await coordinator.post("/v1/alerts/any/acknowledgement")).status_code == 403
        assert (await advisor.post("/v1/alerts/any/acknowledgement")).status_code == 404
        assert (await advisor.post("/v1/rota/changes", json=change)).status_code == 403
        assert (await coordinator.post("/v1/rota/changes", json=change)).status_code == 403
        assert (await advisor.delete("/v1/rota/changes/1")).status_code == 403
        # A cover, not the leave: a gap would raise a warning still being sent as the test ends.
        cover = change | {"kind": "cover", "person_id": "advisor-b"}
        added = await notifier.client("head").post("/v1/rota/changes", json=cover)
        assert added.status_code == 201


async def test_alert_list_and_acknowledging_from_the_console_stops_the_escalation(
    tmp_path: Path,
) -> None:
    async with running_notifier(tmp_path) as notifier:
        advisor_b, head = notifier.client("advisor-b"), notifier.client("head")
        coordinator = notifier.client("coordinator")
        await notifier.raise_referral("MS-2026-CONS01")  # 10:00: step 0 pages advisor-a (sms+email)
        await wait_until(lambda: len(notifier.sender.sent) == 2, what="step 0 sent")
        [alert] = (await coordinator.get("/v1/alerts")).json()["alerts"]
        assert set(alert) == {
            "alert_id", "kind", "case_reference", "case_references", "urgency", "status",
            "raised_at", "acknowledged_at", "acknowledged_by", "steps_fired",
            "paged_person_ids", "next_step_at",
        }  # fmt: skip
        assert {k: v for k, v in alert.items() if k not in ("alert_id", "raised_at", "next_step_at")} == {
            "kind": "referral", "case_reference": "MS-2026-CONS01",
            "case_references": ["MS-2026-CONS01"], "urgency": "priority", "status": "open",
            "acknowledged_at": None, "acknowledged_by": None, "steps_fired": 1,
            "paged_person_ids": ["advisor-a"],
        }  # fmt: skip
        assert at(alert["raised_at"]) == london(1, 10)
        assert at(alert["next_step_at"]) == london(1, 10, 10)

        await notifier.advance(10, 2, 4)  # 10:10: step 1, advisor-a again
        await notifier.advance(10, 4, 6)  # 10:20: step 2, the backup advisor-b
        await notifier.raise_referral("MS-2026-CONS02")  # 10:20: a second alert, to advisor-a
        await wait_until(lambda: len(notifier.sender.sent) == 8, what="second alert sent")
        listed = (await coordinator.get("/v1/alerts")).json()["alerts"]
        assert [a["case_reference"] for a in listed] == ["MS-2026-CONS02", "MS-2026-CONS01"]
        first = listed[1]
        assert (first["steps_fired"], first["paged_person_ids"]) == (3, ["advisor-a", "advisor-b"])
        assert at(first["next_step_at"]) == london(1, 10, 30)
        cut = (await coordinator.get("/v1/alerts?limit=1")).json()
        assert [a["case_reference"] for a in cut["alerts"]] == ["MS-2026-CONS02"]
        assert cut["total"] == 2, "the list says how many it left out"
        assert (await coordinator.get("/v1/alerts?limit=2")).json()["total"] == 2
        only = await coordinator.get("/v1/alerts?case_reference=MS-2026-CONS01")
        assert [a["alert_id"] for a in only.json()["alerts"]] == [first["alert_id"]]
        assert only.json()["total"] == 1
        assert (await coordinator.get("/v1/alerts?case_reference=not-a-ref")).status_code == 422
        assert (await coordinator.get("/v1/alerts?status=closed")).status_code == 422

        # advisor-b, the backup, takes it from the console.
        path = f"/v1/alerts/{first['alert_id']}/acknowledgement"
        taken = await advisor_b.post(path)
        assert taken.status_code == 200
        assert taken.json() | {"acknowledged_at": None} == {
            "alert_id": first["alert_id"], "status": "acknowledged", "acknowledged_by": "advisor-b",
            "acknowledged_at": None, "already_acknowledged": False,
        }  # fmt: skip
        assert at(taken.json()["acknowledged_at"]) == london(1, 10, 20)
        again = await advisor_b.post(path)  # a retry over a bad connection is not a failure
        assert (again.status_code, again.json()["already_acknowledged"]) == (200, True)
        late = await head.post(path)
        assert late.status_code == 409
        assert late.json() == {
            "type": "about:blank", "title": "Conflict", "status": 409,
            "detail": "already acknowledged by advisor-b at 10:20 on 01 Dec",
        }  # fmt: skip
        assert (await head.post("/v1/alerts/no-such-alert/acknowledgement")).status_code == 404
        await wait_until(lambda: len(notifier.acknowledged) == 1, what="acknowledged event")
        assert (notifier.acknowledged[0]["person_id"], notifier.acknowledged[0]["via"]) == (
            "advisor-b", "console",
        )  # fmt: skip

        # 10:50: CONS01's step 3 (head, 10:30) would have fired; CONS02's steps 1-3 (10:30,
        # 10:40, 10:50) do, which shows the clock ran: advisor-a twice more, advisor-b, head.
        await notifier.advance(30, 8, 14)
        await wait_escalations_finished(notifier.database_url)  # nothing left that could send
        assert len(notifier.sender.sent) == 14
        assert notifier.sender.people_for("MS-2026-CONS01") == [
            "advisor-a",
            "advisor-a",
            "advisor-a",
            "advisor-a",
            "advisor-b",
            "advisor-b",
        ], "nothing after the acknowledgement"
        done = (await coordinator.get("/v1/alerts?status=acknowledged")).json()["alerts"]
        assert [(a["case_reference"], a["steps_fired"], a["next_step_at"], a["acknowledged_by"])
                for a in done] == [("MS-2026-CONS01", 3, None, "advisor-b")]  # fmt: skip
        still_open = (await coordinator.get("/v1/alerts")).json()["alerts"]
        assert [(a["case_reference"], a["steps_fired"], a["paged_person_ids"]) for a in still_open] == [
            ("MS-2026-CONS02", 4, ["advisor-a", "advisor-b", "head"])
        ]  # fmt: skip
        assert len((await coordinator.get("/v1/alerts?status=all")).json()["alerts"]) == 2
        assert (await coordinator.get("/v1/alerts?status=open&limit=1")).json()["total"] == 1
        assert (await coordinator.get("/v1/alerts?status=all&limit=1")).json()["total"] == 2


async def test_leave_and_cover_from_the_console_change_the_rota_and_who_is_paged(
    tmp_path: Path,
) -> None:
    async with running_notifier(tmp_path) as notifier:
        head, advisor = notifier.client("head"), notifier.client("advisor-a")
        wednesday = "/v1/rota?start=2026-12-02&days=1"

        async def day() -> dict[str, Any]:
            [found] = (await advisor.get(wednesday)).json()["days"]
            assert found["date"] == "2026-12-02"
            return {
                "periods": [(at(p["start"]), at(p["end"]), p["person_id"]) for p in found["periods"]],
                "gaps": [(at(g["start"]), at(g["end"])) for g in found["gaps"]],
                "changes": [(c["kind"], c["person_id"], c["source"]) for c in found["changes"]],
            }  # fmt: skip

        assert await day() == {
            "periods": [(london(2, 0), london(2, 8), "advisor-b"),
                        (london(2, 8), london(2, 20), "advisor-a"),
                        (london(2, 20), london(3, 0), "advisor-b")],
            "gaps": [], "changes": [],
        }  # fmt: skip

        leave = await head.post("/v1/rota/changes", json={
            "kind": "leave", "person_id": "advisor-a",
            "starts_at": "2026-12-02T08:00", "ends_at": "2026-12-02T20:00"})  # fmt: skip
        assert leave.status_code == 201
        assert leave.json() | {"id": 0, "created_at": None} == {
            "id": 0, "source": "console", "kind": "leave", "person_id": "advisor-a",
            "starts_at": leave.json()["starts_at"], "ends_at": leave.json()["ends_at"],
            "created_by": "head", "created_at": None,
        }  # fmt: skip
        assert (at(leave.json()["starts_at"]), at(leave.json()["ends_at"])) == (
            london(2, 8), london(2, 20),
        )  # fmt: skip
        assert await day() == {
            "periods": [(london(2, 0), london(2, 8), "advisor-b"),
                        (london(2, 8), london(2, 20), None),
                        (london(2, 20), london(3, 0), "advisor-b")],
            "gaps": [(london(2, 8), london(2, 20))],
            "changes": [("leave", "advisor-a", "console")],
        }  # fmt: skip

        async def refused(body: dict[str, str]) -> tuple[int, str]:
            answer = await head.post("/v1/rota/changes", json=body)
            detail = answer.json().get("detail") or answer.json()["errors"][0]["message"]
            return answer.status_code, str(detail)

        cover = {"kind": "cover", "person_id": "advisor-b",
                 # 09:00 at UTC+1 is 08:00 in London (GMT in December).
                 "starts_at": "2026-12-02T09:00:00+01:00", "ends_at": "2026-12-02T20:00"}  # fmt: skip
        assert (await refused(cover | {"person_id": "advisor-a"}))[0] == 409  # on leave then
        assert (await refused(cover | {"person_id": "nobody"})) == (
            422,
            "person_id is nobody on the rota",
        )
        assert (await refused(cover | {"person_id": "coordinator"}))[0] == 422
        assert (await refused(cover | {"ends_at": "2026-12-02T07:00"}))[0] == 422
        assert (await refused(cover | {"ends_at": "2026-12-02T19:50"}))[0] == 422  # off the quarter
        assert (await refused(cover | {"starts_at": "2026-11-20T08:00", "ends_at": "2026-11-21T08:00"}))[0] == 422  # fmt: skip
        assert (await refused(cover | {"ends_at": "2028-02-01T08:00"}))[0] == 422  # > 400 days
        covered = await head.post("/v1/rota/changes", json=cover)
        assert covered.status_code == 201
        assert at(covered.json()["starts_at"]) == london(2, 8)
        # advisor-b's night, the cover and the next night: one stretch for advisor-b.
        assert await day() == {
            "periods": [(london(2, 0), london(3, 0), "advisor-b")],
            "gaps": [],
            "changes": [("leave", "advisor-a", "console"), ("cover", "advisor-b", "console")],
        }  # fmt: skip
        listed = (await advisor.get("/v1/rota/changes")).json()["changes"]
        assert [(c["kind"], c["created_by"]) for c in listed] == [
            ("leave", "head"),
            ("cover", "head"),
        ]

        now = (await advisor.get("/v1/rota/on-duty")).json()
        assert (now["on_duty"]["person_id"], now["on_duty"]["gap"]) == ("advisor-a", False)
        assert (at(now["on_duty"]["shift_start"]), at(now["on_duty"]["shift_end"])) == (
            london(1, 8), london(1, 20),
        )  # fmt: skip
        # Next: advisor-b from Tuesday 20:00, through the cover, to the end of Wednesday night.
        assert (now["next"]["person_id"], at(now["next"]["shift_start"]),
                at(now["next"]["shift_end"])) == ("advisor-b", london(1, 20), london(3, 8))  # fmt: skip
        assert now["last_resort"] == "head"

        # Wednesday noon: advisor-a's shift, but on leave; the notifier pages the cover.
        notifier.clock.advance(timedelta(hours=26))
        await notifier.raise_referral("MS-2026-COVER1")
        await wait_until(lambda: len(notifier.sender.people_for("MS-2026-COVER1")) == 2,
                         what="the first page")  # fmt: skip
        assert notifier.sender.people_for("MS-2026-COVER1") == ["advisor-b", "advisor-b"]
        # The second step pages whoever is on duty then: the cover again.
        await notifier.advance(10, 2, 4, "MS-2026-COVER1")
        assert notifier.sender.people_for("MS-2026-COVER1")[2:] == ["advisor-b", "advisor-b"]
        now = (await advisor.get("/v1/rota/on-duty")).json()
        assert (now["on_duty"]["person_id"], now["on_duty"]["gap"]) == ("advisor-b", False)

        # The cover removed: the gap is back, and the head of service (last resort) holds it.
        cover_id = listed[1]["id"]
        assert (await advisor.delete(f"/v1/rota/changes/{cover_id}")).status_code == 403
        assert (await head.delete(f"/v1/rota/changes/{cover_id}")).status_code == 204
        assert (await head.delete(f"/v1/rota/changes/{cover_id}")).status_code == 404
        assert (await day())["gaps"] == [(london(2, 8), london(2, 20))]
        now = (await advisor.get("/v1/rota/on-duty")).json()
        assert (now["on_duty"]["person_id"], now["on_duty"]["gap"]) == ("head", True)
        assert (at(now["on_duty"]["shift_start"]), at(now["on_duty"]["shift_end"])) == (
            london(2, 8), london(2, 20),
        )  # fmt: skip
        assert (now["next"]["person_id"], at(now["next"]["shift_start"])) == (
            "advisor-b",
            london(2, 20),
        )
        # 12:20: the backup step: the advisors not on duty and not on leave, advisor-b.
        await notifier.advance(10, 4, 6, "MS-2026-COVER1")
        assert notifier.sender.people_for("MS-2026-COVER1")[4:] == ["advisor-b", "advisor-b"]
        assert [(c["kind"], c["id"]) for c in
                (await advisor.get("/v1/rota/changes")).json()["changes"]] == [("leave", listed[0]["id"])]  # fmt: skip

    engine = create_engine(notifier.database_url)
    async with engine.connect() as connection:
        audit = (
            await connection.execute(
                sa.select(
                    staff_actions.c.person_id, staff_actions.c.action, staff_actions.c.subject
                ).order_by(staff_actions.c.id)
            )
        ).all()
    await engine.dispose()
    assert [tuple(row) for row in audit] == [
        ("head", "rota_change_added", f"rota_change:{listed[0]['id']}"),
        ("head", "rota_change_added", f"rota_change:{cover_id}"),
        ("head", "rota_change_removed", f"rota_change:{cover_id}"),
    ]


async def test_a_change_stored_by_another_notifier_process_is_paged_from(tmp_path: Path) -> None:
    """Two notifier processes share a database: a cover one of them stored (written here straight
    into the table) is read before this one's next escalation step."""
    async with running_notifier(tmp_path) as notifier:
        engine = create_engine(notifier.database_url)
        async with engine.begin() as connection:
            await connection.execute(
                rota_changes.insert().values(
                    kind="cover", person_id="advisor-b", starts_local=datetime(2026, 12, 1, 9, 0),
                    ends_local=datetime(2026, 12, 1, 11, 0), created_at=notifier.clock.now(),
                    created_by="head",
                )
            )  # fmt: skip
        await engine.dispose()
        await notifier.raise_referral("MS-2026-OTHER1")  # 10:00, advisor-a's shift: covered
        await wait_until(lambda: len(notifier.sender.people_for("MS-2026-OTHER1")) == 2,
                         what="the first page")  # fmt: skip
        assert notifier.sender.people_for("MS-2026-OTHER1") == ["advisor-b", "advisor-b"]


def console_over(notifier: Notifier, person: str, *roles: StaffRole) -> httpx.AsyncClient:
    """The console's alert pages (Now, the head's overview) in front of this notifier, signed in
    as `person`; casework, which the overview also asks, answers with no overdue task."""
    backends = Backends({"notifier": "http://notifier", "casework": "http://casework"}, 5)
    backends.client = httpx.AsyncClient(
        mounts={
            "http://notifier": httpx.ASGITransport(app=notifier.app.http_app),
            "http://casework": httpx.MockTransport(lambda request: httpx.Response(200, json=[])),
        }
    )
    made = console_app(backends, (alerts_page, head))
    session = made.sign_in(person, TOKENS[person], *roles)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=made.app), base_url=ORIGIN)
    client.cookies.set(made.console.cookie_name, session.id)
    return client


async def open_alerts_raised(database_url: str, count: int) -> list[str]:
    """`count` open referral alerts, a minute apart, straight into the notifier's table (no
    steps: nothing fires); their case references, newest first."""
    engine = create_engine(database_url)
    references = [f"MS-2026-{n:06d}" for n in range(count)]
    try:
        async with engine.begin() as connection:
            await connection.execute(
                alerts.insert(),
                [
                    {"alert_id": f"alert-{n}", "kind": "referral", "subject_key": reference,
                     "case_reference": reference, "urgency": "standard", "status": "open",
                     "fields": "{}", "correlation_id": f"c-{n}",
                     "raised_at": TUESDAY_10 - timedelta(minutes=count - n)}
                    for n, reference in enumerate(references)
                ],
            )  # fmt: skip
    finally:
        await engine.dispose()
    return references[::-1]


async def test_the_console_says_how_many_open_alerts_it_does_not_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Open alerts are the responders' queue. The console lists the newest 200 (the notifier's
    largest page); past that, Now and the head's overview say how many are open and how many
    older ones are not listed, where before they showed the newest 50 as if they were all."""
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "http://127.0.0.1:8080/realms/safeguarding")
    async with running_notifier(tmp_path) as notifier:
        newest_first = await open_alerts_raised(notifier.database_url, 203)
        advisor = console_over(notifier, "advisor-a", StaffRole.ADVISOR)
        head_of_service = console_over(notifier, "head", StaffRole.HEAD_OF_SERVICE)
        async with advisor, head_of_service:
            for client, path in ((advisor, "/now"), (advisor, "/now/alerts"),
                                 (head_of_service, "/head")):  # fmt: skip
                page = await client.get(path)
                assert page.status_code == 200, (path, page.text[:500])
                listed = re.findall(r'href="/cases/(MS-2026-\d{6})"', page.text)
                assert listed == newest_first[:200], path
                notice = re.search(r'data-testid="alerts-not-shown">(.*?)</div>', page.text, re.S)
                assert notice, path
                assert " ".join(re.sub(r"<[^>]+>", " ", notice.group(1)).split()) == (
                    "! Warning 3 older open alerts are not listed: 203 are open, and this page "
                    "lists the newest 200. Those not listed are still escalating."
                ), path

            # Once they are acknowledged down to 200, the list is whole and says nothing more.
            engine = create_engine(notifier.database_url)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        alerts.update()
                        .where(alerts.c.case_reference.in_(newest_first[200:]))
                        .values(status="acknowledged")
                    )
            finally:
                await engine.dispose()
            for client, path in ((advisor, "/now"), (head_of_service, "/head")):
                page = await client.get(path)
                assert len(re.findall(r'href="/cases/MS-2026-', page.text)) == 200, path
                assert "alerts-not-shown" not in page.text, path


async def test_a_case_page_says_how_many_of_the_case_s_alerts_it_leaves_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case's timeline lists the newest 200 of its alerts (the notifier's largest page); a case
    with more says how many older ones are not on it, where before it cut them without a word."""
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "http://127.0.0.1:8080/realms/safeguarding")
    async with running_notifier(tmp_path) as notifier:
        case = "MS-2026-MANY01"
        engine = create_engine(notifier.database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    alerts.insert(),
                    [
                        {"alert_id": f"alert-{n}", "kind": "referral", "subject_key": f"{case}#{n}",
                         "case_reference": case, "urgency": "standard", "status": "acknowledged",
                         "fields": "{}", "correlation_id": f"c-{n}",
                         "raised_at": TUESDAY_10 - timedelta(days=203 - n)}
                        for n in range(203)
                    ],
                )  # fmt: skip
        finally:
            await engine.dispose()
        backends = Backends(
            {"notifier": "http://notifier", "intake": "http://others", "casework": "http://others",
             "meetings": "http://others"},
            5,
        )  # fmt: skip
        backends.client = httpx.AsyncClient(
            mounts={
                "http://notifier": httpx.ASGITransport(app=notifier.app.http_app),
                # The rest of the timeline is not there: each part is left out, as for a new case.
                "http://others": httpx.MockTransport(lambda request: httpx.Response(404)),
            }
        )
        made = console_app(backends, (cases,))
        session = made.sign_in("head", TOKENS["head"], StaffRole.HEAD_OF_SERVICE)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=made.app), base_url=ORIGIN
        ) as client:
            client.cookies.set(made.console.cookie_name, session.id)
            page = await client.get(f"/cases/{case}")
            assert page.status_code == 200, page.text[:500]
            assert page.text.count("Alert raised (standard)") == 200
            notice = re.search(r'data-testid="case-alerts-not-listed">(.*?)</div>', page.text, re.S)
            assert notice
            assert " ".join(re.sub(r"<[^>]+>", " ", notice.group(1)).split()) == (
                "! Warning 3 older alerts about this case are not on this timeline, which shows "
                "the newest 200."
            )
            other = await client.get("/cases/MS-2026-FEW001")  # no alerts: nothing left off
            assert other.status_code == 200
            assert "case-alerts-not-listed" not in other.text


async def test_a_cases_alerts_are_its_own_and_the_raids_that_list_it(tmp_path: Path) -> None:
    """`case_reference` finds the case's own alerts and the grouped alerts whose burst batch
    lists it (two reads since notifier_0012), newest first, each once; not a batch that lists
    only a case whose reference contains this one."""
    async with running_notifier(tmp_path) as notifier:
        case, other = "MS-2026-RAID01", "MS-2026-RAID011"

        def alert(n: int, kind: str, subject: str, reference: str | None) -> dict[str, Any]:
            return {
                "alert_id": f"alert-{n}", "kind": kind, "subject_key": subject,
                "case_reference": reference, "urgency": "priority", "status": "open",
                "fields": "{}", "correlation_id": f"c-{n}",
                "raised_at": TUESDAY_10 + timedelta(minutes=n),
            }  # fmt: skip

        def batch(batch_id: str, references: str) -> dict[str, Any]:
            return {
                "batch_id": batch_id, "operation_group": "op", "case_references": references,
                "district": "norwich", "operation": "Operation Test", "urgency": "priority",
                "correlation_id": batch_id, "send_at": TUESDAY_10, "status": "sent",
            }  # fmt: skip

        engine = create_engine(notifier.database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    burst_batches.insert(),
                    [batch("b-1", f"MS-2026-A,{case},MS-2026-B"), batch("b-2", other),
                     batch("b-3", case)],
                )  # fmt: skip
                await connection.execute(
                    alerts.insert(),
                    [alert(1, "referral", case, case), alert(2, "grouped", "b-1", None),
                     alert(3, "grouped", "b-2", None), alert(4, "grouped", "b-3", case),
                     alert(5, "referral", other, other)],
                )  # fmt: skip
        finally:
            await engine.dispose()
        async with notifier.client("head") as head:
            found = (await head.get("/v1/alerts", params={"case_reference": case})).json()
            assert [a["alert_id"] for a in found["alerts"]] == ["alert-4", "alert-2", "alert-1"]
            assert found["total"] == 3
            assert found["alerts"][1]["case_references"] == ["MS-2026-A", case, "MS-2026-B"]
            cut = (await head.get("/v1/alerts", params={"case_reference": case, "limit": 1})).json()
            assert ([a["alert_id"] for a in cut["alerts"]], cut["total"]) == (["alert-4"], 3)
            theirs = (await head.get("/v1/alerts", params={"case_reference": other})).json()
            assert [a["alert_id"] for a in theirs["alerts"]] == ["alert-5", "alert-3"]
            none = await head.get(
                "/v1/alerts", params={"case_reference": case, "status": "acknowledged"}
            )
            assert none.json() == {"alerts": [], "total": 0}
