"""Every time the four services' HTTP APIs send is UTC with `Z` (shared/api_times.py), in summer
too: the whole system runs on a British Summer Time clock, seeded on the real broker with three
cases (one withdrawn from its meeting, one deferred, one left listed with an onward referral and
its outcome), an acknowledged alert, a task done, the last meeting's minutes with two actions (one done), a published agenda and a day
of leave; then every JSON GET operation each service's
own /openapi.json describes is called and every datetime-looking string in the answers (and in
the answers of the seeding POSTs) must read YYYY-MM-DDTHH:MM:SS[.ffffff]Z.

Before the rule, meeting, rota, leave and shift times came as `+01:00` in summer, and the bodies
built by hand kept the offset they were made with (the vault's contact time as the police sent
it; the heartbeat as `+00:00`, checked in tests/unit/test_dead_mans_switch.py). A field the schemas
say is a date-time but no answer carried is a gap in the seeding, so the test names it unless the
allow-list below says why it cannot be seeded here. SQLite only: the rule is in the HTTP layer,
and both databases give the services the same aware UTC values (shared/db.py UtcDateTime)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.casework.directory import NEED_KINDS
from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from services.intake.adapters.vault import VaultCipher
from services.intake.domain import UrgencyPolicy
from services.intake.handlers import IntakeDeps
from services.intake.http import build_http_app as build_intake_http
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.clock import FixedClock
from shared.db import create_engine
from shared.events import CaseworkQuarterV1, QuarterCaseworkFigures
from shared.staff_auth import Staff, StaffAuth, StaffOidcSettings, StaffRole
from shared.topics import REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import produce
from tests.support.waiting import eventually
from tests.unit.builders import example_dict

pytestmark = pytest.mark.integration

# Monday 14 June 2027, 09:00 in London (BST): before the cut-off (12:00) of Wednesday's panel.
T0 = datetime(2027, 6, 14, 8, 0, tzinfo=UTC)
MEETING_DAY = "2027-06-16"
LAST_MEETING_DAY = "2027-06-09"  # its minutes raise the actions that carry to MEETING_DAY
MEETING_STARTS_UTC = "2027-06-16T09:00:00Z"  # 10:00 BST (deploy/config/meetings.yaml)
LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
API_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")
INTAKE_TOKENS = {
    "tok-head": Staff("head-of-service", frozenset({StaffRole.HEAD_OF_SERVICE})),
    "tok-reader": Staff("reader", frozenset({StaffRole.VAULT_READER})),
}
TOKENS = {
    "intake": "tok-head",
    "casework": system.STAFF_TOKENS["head-of-service"],
    "notifier": system.STAFF_TOKENS["head-of-service"],
    "meeting_scheduler": "test-token-coordinator",
}
# Queries that widen an answer to what was seeded (the defaults hide acknowledged alerts and
# leave already over); required parameters come from the document.
EXTRA_QUERY = {
    ("notifier", "/v1/alerts"): {"status": "all"},
    ("notifier", "/v1/rota/changes"): {"include_past": "true"},
    ("casework", "/v1/directory"): {"include_retired": "true"},
}
# Date-time fields no answer here can carry, and why; each is the same UtcTimestamp type as the
# fields seen.
NOT_SEEDED = {
    ("intake", "/v1/cases/{case_reference}", "personal_data_purged_at"):
        "set by the retention purge, years after the contact",
    ("casework", "/v1/tasks/{task_id}/suggestions", "retired_at"):
        "a retired entry is never suggested; /v1/directory shows the same type with a value",
    ("notifier", "/heartbeat", "last_end_to_end"):
        "intake's heartbeat is off in tests; tests/unit/test_dead_mans_switch.py checks its Z",
}  # fmt: skip
# A quarter ended by T0 and after casework's project start (deploy/config/casework.yaml): casework's
# figures for it, and the meeting scheduler's report seeded from its casework event.
FUNDER_QUARTER = "2026-27-Q3"


def times_in(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(field name, text) of every datetime-looking string in a JSON answer, at any depth."""
    if isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from times_in(name, key)
            yield from times_in(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from times_in(item, key)


def date_time_fields(
    schema: Any, document: dict[str, Any], seen: frozenset[str] = frozenset()
) -> set[str]:
    """Names of the properties an answer of `schema` may carry as a date-time."""
    if isinstance(schema, list):
        return set().union(*(date_time_fields(s, document, seen) for s in schema))
    if not isinstance(schema, dict):
        return set()
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return set()
        return date_time_fields(document["components"]["schemas"][name], document, seen | {name})
    found: set[str] = set()
    for name, prop in schema.get("properties", {}).items():
        if '"date-time"' in json.dumps(prop) and "$ref" not in json.dumps(prop):
            found.add(name)
        found |= date_time_fields(prop, document, seen)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
        found |= date_time_fields(schema.get(key), document, seen)
    return found


class Checked:
    """Every answer's times, checked as they come."""

    def __init__(self) -> None:
        self.wrong: list[str] = []

    def __call__(self, where: str, response: httpx.Response) -> dict[str, str]:
        assert response.status_code in (200, 201), (
            f"{where}: {response.status_code} {response.text}"
        )
        found = dict(times_in(response.json()))
        self.wrong += [f"{where} {name}={text}" for name, text in times_in(response.json())
                       if not API_TIME.match(text)]  # fmt: skip
        return found


async def test_every_api_time_is_utc_with_z_in_summer(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    clock = FixedClock(T0)
    databases = DatabaseUrls("sqlite", tmp_path, None)
    urls = {name: await databases.new(name) for name in system.BUILDERS}

    def common(name: str) -> dict[str, Any]:
        return system.common(kafka_bootstrap, topic_prefix, urls[name])

    apps = {
        "intake": create_intake(IntakeSettings(**common("intake"), **system.TEST_SETTINGS_INTAKE), clock),
        "casework": create_casework(CaseworkSettings(**common("casework"), **system.TEST_SETTINGS_CASEWORK), clock),
        "notifier": create_notifier(NotifierSettings(**common("notifier"), **system.TEST_SETTINGS_NOTIFIER,
                                                     dispatch_poll_seconds=0.2), clock),
        "meeting_scheduler": create_scheduler(SchedulerSettings(**common("meeting_scheduler"),
                                                                **system.TEST_SETTINGS_MEETINGS), clock),
    }  # fmt: skip
    check = Checked()
    async with AsyncExitStack() as stack:
        await system.start(stack, apps)
        # Intake's staff reads take OIDC tokens in service; here the same routes and database
        # with a static token per role (as tests/service/test_console_apis_intake_casework.py).
        engine = create_engine(urls["intake"])
        stack.push_async_callback(engine.dispose)
        intake_staff = build_intake_http(
            IntakeDeps(engine=engine, vault=VaultCipher.from_base64("test-1", system.TEST_VAULT_KEY, {}),
                       clock=clock, policy=UrgencyPolicy(), referrals_topic=REFERRALS.name,
                       on_commit=lambda: None),
            max_body_bytes=64 * 1024, police_keys={}, signatures_required=True,
            signature_tolerance=timedelta(minutes=5),
            staff_auth=StaffAuth(StaffOidcSettings(), static_tokens=INTAKE_TOKENS, deployed=False),
        )  # fmt: skip
        transports = {name: httpx.ASGITransport(app=app.http_app) for name, app in apps.items()}
        transports["intake_staff"] = httpx.ASGITransport(app=intake_staff)
        clients = {
            name: await stack.enter_async_context(httpx.AsyncClient(
                transport=transports["intake_staff" if name == "intake" else name],
                base_url=f"http://{name}", headers={"Authorization": f"Bearer {TOKENS[name]}"}))
            for name in TOKENS
        }  # fmt: skip
        police = await stack.enter_async_context(
            httpx.AsyncClient(transport=transports["intake"], base_url="http://intake")
        )

        # Three cases, each its own police operation (one raid would be one grouped alert).
        references = []
        for number in range(3):
            contact = example_dict()
            contact["police_reference"] = f"NFK/2027/TIMES{number}"
            contact["operation"] = f"Op Times {number}"
            contact["recorded_at"] = "2027-06-14T08:30:00+01:00"
            body = json.dumps(contact).encode()
            posted = await police.post("/v1/contacts", content=body,
                                       headers=system.signed(body, timestamp=int(T0.timestamp())))  # fmt: skip
            assert posted.status_code == 202, posted.text
            references.append(posted.json()["case_reference"])
        # A police operation announced ahead (ending before the cut-off): its debrief, with its
        # window, is on MEETING_DAY's agenda. Starting more than an hour after T0, it raises no
        # alert here (its hour-before reminder waits for a clock that does not move).
        operation = json.dumps({
            "force_code": "NFK", "operation": "Op Times Ahead", "district": "norwich",
            "starts_at": "2027-06-14T10:30:00+01:00", "ends_at": "2027-06-14T11:45:00+01:00",
            "expected_victims": 3,
        }).encode()  # fmt: skip
        announced = await police.post("/v1/operations", content=operation,
                                      headers=system.signed(operation, timestamp=int(T0.timestamp())))  # fmt: skip
        assert announced.status_code == 202, announced.text
        withdrawn, deferred = references[:2]  # the third stays listed
        meeting = f"/v1/meetings/case-panel/{MEETING_DAY}"

        async def agenda() -> dict[str, Any]:
            return dict((await clients["meeting_scheduler"].get(f"{meeting}/agenda")).json())

        async def tasks() -> list[dict[str, Any]]:
            return list((await clients["casework"].get("/v1/tasks")).json())

        async def alerts() -> list[dict[str, Any]]:
            found = await clients["notifier"].get("/v1/alerts", params={"status": "all"})
            return list(found.json()["alerts"])

        await eventually(agenda, lambda a: len(a.get("new_items", [])) == 3, within=30,
                         what="three cases on the agenda")  # fmt: skip
        debriefs = await eventually(agenda, lambda a: len(a.get("operation_debriefs", [])) == 1,
                                    within=30, what="the operation's debrief")  # fmt: skip
        assert debriefs["operation_debriefs"][0]["starts_at"] == "2027-06-14T09:30:00Z"
        task_list = await eventually(
            tasks, lambda t: {task["case_reference"] for task in t} == set(references), within=30,
            what="tasks for every case",
        )  # fmt: skip
        alert_list = await eventually(alerts, lambda a: len(a) == 3, within=30, what="three alerts")

        m, n = clients["meeting_scheduler"], clients["notifier"]
        first_alert = alert_list[0]["alert_id"]
        check("POST acknowledgement", await n.post(f"/v1/alerts/{first_alert}/acknowledgement"))
        task_id = task_list[0]["task_id"]
        check("POST task status", await clients["casework"].post(f"/v1/tasks/{task_id}/status",
                                                                 json={"status": "done"}))  # fmt: skip
        moved = check("POST defer", await m.post(f"{meeting}/items/{deferred}/defer"))
        withdrawal = await m.post(
            f"{meeting}/items/{withdrawn}/withdraw", json={"reason": "no longer needed"}
        )
        assert withdrawal.status_code == 204, withdrawal.text
        check("POST minutes", await m.post(
            f"/v1/meetings/case-panel/{LAST_MEETING_DAY}/minutes",
            json={"items": [{"decision": "Review the referral pathway", "actions": [
                {"text": "Share the pathway", "owner": "Norfolk Constabulary", "due": "2027-06-18"},
                {"text": "Book the room", "owner": "Norfolk County Council", "due": "2027-06-21"},
            ]}]},
        ))  # fmt: skip
        action_id = (await m.get(f"/v1/meetings/case-panel/{LAST_MEETING_DAY}/minutes")).json()[
            "actions"
        ][0]["action_id"]
        check("POST action done", await m.post(f"/v1/actions/{action_id}/done"))
        check("POST publish", await m.post(f"{meeting}/publish"))
        leave = check("POST rota change", await n.post("/v1/rota/changes", json={
            "kind": "leave", "person_id": "advisor-day",
            "starts_at": "2027-06-15T08:00", "ends_at": "2027-06-15T20:00"}))  # fmt: skip

        c = clients["casework"]
        engagement = f"/v1/cases/{references[2]}/criminal-justice"
        check(
            "POST engagement", await c.post(engagement, json={"state": "willing_to_give_account"})
        )
        booked = check("POST booking", await c.post(engagement, json={
            "state": "support_booked", "kind": "court",
            "booked_at": "2027-06-21T10:00:00+01:00"}))  # fmt: skip
        # A directory entry meeting a need task's need (so the task's suggestions carry it), and
        # one retired (so retired_at has a value somewhere).
        # On the case left listed, so the agenda lists its onward referral (below).
        need_task = next(t for t in task_list if t["kind"] in NEED_KINDS and t["task_id"] != task_id
                         and t["case_reference"] == references[2])  # fmt: skip
        for entry in ("times-check-advice", "times-retired"):
            check("PUT directory entry", await c.put(f"/v1/directory/{entry}", json={
                "name": entry, "needs": [need_task["kind"]], "districts": ["all"],
                "how_to_refer": [{"method": "email", "contact": "advice@times.example"}],
                "review_date": "2027-12-31"}))  # fmt: skip
        retired = await c.delete("/v1/directory/times-retired")
        assert retired.status_code == 204, retired.text
        # An onward referral on the need task, with an outcome (so its history has two times).
        referrals = f"/v1/tasks/{need_task['task_id']}/referrals"
        made = await c.post(referrals, json={"organisation_id": "times-check-advice",
                                             "method": "email"})  # fmt: skip
        check("POST referral", made)
        check("POST referral outcome", await c.post(
            f"{referrals}/{made.json()['referral_id']}/outcome", json={"outcome": "accepted"}))  # fmt: skip
        await eventually(agenda, lambda a: any(i["onward_referrals"] and i["onward_referrals"][0]
                                               ["outcome"] == "accepted" for i in a["new_items"]),
                         within=30, what="the referral's outcome on the agenda")  # fmt: skip

        # A training session (London wall-clock, BST) and its attendance, recorded after it.
        session = await m.post("/v1/training-sessions", json={
            "starts_at": "2027-06-13T14:00", "topic": "Spotting labour exploitation",
            "audience": ["Norfolk Constabulary"]})  # fmt: skip
        trained = check("POST training session", session)
        check("PUT training attendance", await m.put(
            f"/v1/training-sessions/{session.json()['session_id']}/attendance",
            json={"attending": 12}))  # fmt: skip
        # The funder's quarterly report: casework's figures for a quarter, straight onto the tasks
        # topic (casework's own publication depends on its project start), rendered and kept.
        quarter = CaseworkQuarterV1(
            occurred_at=T0, correlation_id="times-quarter", producer="casework",
            quarter=FUNDER_QUARTER, starts_on=date(2026, 10, 1), ends_on=date(2026, 12, 31),
            project_starts=date(2026, 4, 1), target=100, version=1,
            quarter_figures=QuarterCaseworkFigures(
                people_supported=0, children=0, adults_declined_nrm=0, adults_other=0,
                alerts_acknowledged=0, alerts_acknowledged_within_target=0),
            to_date=QuarterCaseworkFigures(
                people_supported=0, children=0, adults_declined_nrm=0, adults_other=0,
                alerts_acknowledged=0, alerts_acknowledged_within_target=0),
        )  # fmt: skip
        await produce(
            kafka_bootstrap, TASKS.full_name(topic_prefix), quarter.model_dump_json().encode()
        )

        async def reports() -> list[dict[str, Any]]:
            found = await m.get(
                "/v1/reports/quarterly", headers={"Authorization": "Bearer test-token-head"}
            )
            return list(found.json())

        await eventually(reports, lambda r: FUNDER_QUARTER in [i["quarter"] for i in r],
                         within=30, what="the funder's report kept")  # fmt: skip
        values = {
            "case_reference": references, "task_id": [task_id, need_task["task_id"]],
            "alert_id": [first_alert],
            "series_id": ["case-panel"], "day": [LAST_MEETING_DAY, MEETING_DAY],
            "entry_id": ["times-check-advice", "times-retired"], "quarter": [FUNDER_QUARTER],
        }  # fmt: skip
        walked: list[str] = []
        unseen: dict[tuple[str, str, str], str] = {}
        for service, client in clients.items():
            document = (await client.get("/openapi.json")).json()
            for path, operations in document["paths"].items():
                answer = operations.get("get", {}).get("responses", {}).get("200", {})
                if "application/json" not in answer.get("content", {}):
                    continue  # the agenda documents: Markdown, HTML, PDF and .ics
                parameters = operations["get"].get("parameters", [])
                names = [p["name"] for p in parameters if p["in"] == "path"]
                query = {p["name"]: "checking the time rule" for p in parameters
                         if p["in"] == "query" and p.get("required")}  # fmt: skip
                query |= EXTRA_QUERY.get((service, path), {})
                if path.endswith("/personal-data"):
                    client.headers["Authorization"] = "Bearer tok-reader"
                if service == "meeting_scheduler" and path.startswith("/v1/reports/"):
                    client.headers["Authorization"] = "Bearer test-token-head"  # head only
                seen: set[str] = set()
                for combination in itertools.product(*(values[name] for name in names)):
                    url = path.format(**dict(zip(names, combination, strict=True)))
                    seen |= check(
                        f"GET {service} {url}", await client.get(url, params=query)
                    ).keys()
                client.headers["Authorization"] = f"Bearer {TOKENS[service]}"
                walked.append(f"{service} {path}")
                schema = answer["content"]["application/json"].get("schema", {})
                for field in date_time_fields(schema, document) - seen:
                    unseen[(service, path, field)] = "seen in no answer"

        assert not check.wrong, "times not in UTC with Z:\n" + "\n".join(check.wrong)
        # The right instants, not only the right shape: 10:00 BST next Wednesday, and London
        # wall-clock 08:00 and 20:00 in BST are 09:00, 07:00 and 19:00 UTC.
        assert moved == {"meeting_starts_at": "2027-06-23T09:00:00Z"}
        assert booked["booked_at"] == "2027-06-21T09:00:00Z"  # 10:00 BST
        assert trained["starts_at"] == "2027-06-13T13:00:00Z"  # 14:00 BST
        assert (leave["starts_at"], leave["ends_at"]) == (
            "2027-06-15T07:00:00Z",
            "2027-06-15T19:00:00Z",
        )
        assert {key: why for key, why in unseen.items() if key not in NOT_SEEDED} == {}
        # The walk reached every service's data, not only its health checks.
        assert {"meeting_scheduler /v1/meetings/{series_id}/{day}/agenda",
                "notifier /v1/rota", "casework /v1/tasks", "intake /v1/cases/{case_reference}",
                "notifier /v1/alerts/{alert_id}"} <= set(walked)  # fmt: skip
        upcoming = (await m.get("/v1/meetings")).json()
        assert MEETING_STARTS_UTC in {item["starts_at"] for item in upcoming}
