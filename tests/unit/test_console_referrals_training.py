"""The console's onward referral records (on the task page) and training sessions page, without a
network: the routes run on a small app with the console's own routers, session and CSRF check,
and the services behind them are fakes answering as the real ones do, with the real request
models (casework's NewReferralBody and OutcomeBody, the scheduler's NewTrainingSession and
Attendance) deciding what is refused and the real outcome table deciding what is allowed. So a
refusal reaches the page as casework or the scheduler words it, and the page must place it.

Checked: what each form sends; each refusal (422, 409) as a GOV.UK error summary with the message
beside its field and the typed values kept, never a traceback; only the allowed outcomes offered;
no referral form on a task that is not a need; the training page's pace and forms, and who sees
its menu link."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError

from services.casework.referral_http import NewReferralBody, OutcomeBody
from services.casework.referrals import DeclineReason, Outcome, OutcomeRefused, check_outcome
from services.console import referrals, tasks, training
from services.console.backends import BackendError, Backends
from services.console.referrals import next_outcomes, plain, referral_body, referral_errors
from services.console.sessions import SessionStore
from services.console.training import audience_lines, pace_words, session_body
from services.console.web import nav_items
from services.meeting_scheduler.training_api import Attendance, NewTrainingSession
from shared.redaction import error_path
from shared.staff_auth import StaffRole
from tests.support.console_app import ORIGIN, console_app

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN}
NEED_TASK, FIRST_CONTACT = str(uuid.uuid4()), str(uuid.uuid4())
ENTRY = "norfolk-safe-haven-housing"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
# The directory's entries as the console reads their names (casework's DirectoryEntryView, in part).
DIRECTORY = [
    {"id": ENTRY, "name": "Norfolk Safe Haven Housing", "retired": False},
    {"id": "kings-lynn-legal-advice", "name": "King's Lynn Legal Advice", "retired": False},
    {"id": "closed-night-shelter", "name": "Closed Night Shelter", "retired": True},
]


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": "x", "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def refused_by(model: Any, body: dict[str, Any]) -> httpx.Response | None:
    """A 422 as the service's shared problem handler writes it for `model`, or None if valid."""
    try:
        TypeAdapter(model).validate_python(body)
    except ValidationError as refused:
        errors = [
            {"location": f"body.{error_path(item)}" if item["loc"] else "body",
             "message": item["msg"], "type": item["type"]}
            for item in refused.errors(include_input=False, include_url=False)
        ]  # fmt: skip
        return problem(422, "the request is not valid", errors)
    return None


@dataclass
class Services:
    """casework, the notifier and the meeting scheduler as far as these pages use them."""

    referrals: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path, JSON body
    held: int = 0
    training_series: bool = True  # meetings.yaml has a `training` series

    def task(self, task_id: str) -> dict[str, Any]:
        kind = "housing" if task_id == NEED_TASK else "first_contact"
        return {"task_id": task_id, "case_reference": "MS-2026-7KQ2M4", "kind": kind,
                "status": "in_progress", "due_at": "2026-12-08T17:00:00Z",
                "assignee": "advisor-day", "organisation": None}  # fmt: skip

    def handle(self, request: httpx.Request) -> httpx.Response:
        body: Any = json.loads(request.content) if request.content else None
        path = request.url.path
        self.calls.append((request.method, path, body))
        if path == "/v1/rota/people":
            return httpx.Response(200, json={"people": [{"id": "advisor-day", "role": "advisor"},
                                                        {"id": "advisor-night", "role": "advisor"}]})  # fmt: skip
        if path.startswith("/v1/training-sessions"):
            return self.training(request.method, path, body)
        if path == "/v1/directory":  # as casework answers: retired entries only when asked
            retired = request.url.params.get("include_retired") == "true"
            return httpx.Response(200, json=[e for e in DIRECTORY if retired or not e["retired"]])
        found = re.fullmatch(r"/v1/tasks/([^/]+)(/.*)?", path)
        assert found, path
        task_id, rest = found.group(1), found.group(2) or ""
        if task_id not in (NEED_TASK, FIRST_CONTACT):
            return problem(404, "no such task")
        if rest == "":
            return httpx.Response(200, json=self.task(task_id))
        if rest == "/history":
            return httpx.Response(200, json=[])
        if rest == "/suggestions":
            if task_id == FIRST_CONTACT:
                return httpx.Response(200, json={"kind": "first_contact", "district": None,
                                                 "matched_on": "not_a_need", "organisations": []})  # fmt: skip
            return httpx.Response(200, json={
                "kind": "housing", "district": "norwich", "matched_on": "district", "note": None,
                "organisations": [{"id": ENTRY, "name": "Norfolk Safe Haven Housing",
                                   "how_to_refer": [], "review_overdue": False}]})  # fmt: skip
        if rest == "/referrals" and request.method == "GET":
            return httpx.Response(200, json=self.referrals)
        if rest == "/referrals":
            return self.make(task_id, body)
        outcome = re.fullmatch(r"/referrals/([^/]+)/outcome", rest)
        assert outcome, rest
        assert request.method == "POST", rest
        return self.change(outcome.group(1), body)

    def make(self, task_id: str, body: dict[str, Any]) -> httpx.Response:
        if (invalid := refused_by(NewReferralBody, body)) is not None:
            return invalid
        if task_id == FIRST_CONTACT:
            return problem(409, "a first_contact task is not a need: it takes no onward referral")
        if body.get("organisation_id") not in (None, ENTRY):
            return problem(422, "organisation_id is no live directory entry")
        if body.get("made_on", "") > T0.date().isoformat():
            return problem(422, "made_on may not be in the future")
        referral = {
            "referral_id": str(uuid.uuid4()), "task_id": task_id, "kind": "housing",
            "organisation_id": body.get("organisation_id"),
            "organisation_name": body.get("organisation_name"),
            "made_on": body.get("made_on", T0.date().isoformat()), "method": body["method"],
            "outcome": "made", "decline_reason": None, "created_at": "2026-12-01T10:00:00Z",
            "created_by": "advisor-day", "updated_at": "2026-12-01T10:00:00Z",
            "updated_by": "advisor-day", "history": [],
        }  # fmt: skip
        self.referrals.append(referral)
        return httpx.Response(201, json=referral)

    def change(self, referral_id: str, body: dict[str, Any]) -> httpx.Response:
        if (invalid := refused_by(OutcomeBody, body)) is not None:
            return invalid
        referral = next((r for r in self.referrals if r["referral_id"] == referral_id), None)
        if referral is None:
            return problem(404, "no such referral")
        reason = body.get("decline_reason")
        try:
            check_outcome(
                Outcome(referral["outcome"]), Outcome(body["outcome"]),
                DeclineReason(reason) if reason else None,
            )  # fmt: skip
        except OutcomeRefused as refused:
            return problem(409, str(refused))
        referral |= {"outcome": body["outcome"], "decline_reason": reason}
        return httpx.Response(200, json=referral)

    def sent(self) -> tuple[str, str, Any]:
        """The last change asked of a service (the page read after it makes GETs)."""
        found: tuple[str, str, Any] = next(c for c in reversed(self.calls) if c[0] != "GET")
        return found

    def training(self, method: str, path: str, body: Any) -> httpx.Response:
        if not self.training_series:  # the scheduler adds no training routes
            return problem(404, "Not Found")
        if method == "GET":
            progress = {"project_starts": "2026-04-01", "period_ends": "2029-04-01",
                        "period_years": 3, "target": 3, "held": self.held, "planned": 0,
                        "awaiting_attendance": 0, "expected_by_now": 1,
                        "behind": self.held < 1, "shortfall": max(0, 1 - self.held)}  # fmt: skip
            return httpx.Response(200, json={"series_id": "training", "title": "Training",
                                             "progress": progress, "sessions": self.sessions})  # fmt: skip
        if method == "POST":
            if (invalid := refused_by(NewTrainingSession, body)) is not None:
                return invalid
            added = {"session_id": str(uuid.uuid4()), "series_id": "training",
                     "starts_at": "2026-11-20T14:00:00Z", "topic": body["topic"],
                     "audience": body["audience"], "materials_url": body.get("materials_url"),
                     "status": "planned", "attending": None, "attendance_recorded_at": None}  # fmt: skip
            self.sessions.append(added)
            return httpx.Response(201, json=added)
        if (invalid := refused_by(Attendance, body)) is not None:
            return invalid
        session_id = path.split("/")[3]
        found = next((s for s in self.sessions if s["session_id"] == session_id), None)
        if found is None:
            return problem(404, "no such training session")
        if found["starts_at"] > T0.isoformat():
            return problem(409, "the session has not started: attendance is recorded after it")
        found |= {"attending": body["attending"], "status": "held"}
        self.held = sum(1 for s in self.sessions if s["status"] == "held")
        return httpx.Response(200, json=found)


@dataclass
class Page:
    client: TestClient
    services: Services
    csrf: str

    def post(self, path: str, form: dict[str, str]) -> httpx.Response:
        answer: httpx.Response = self.client.post(
            path, data={"csrf_token": self.csrf, **form}, headers=SAME_ORIGIN
        )
        return answer


def console_page(monkeypatch: pytest.MonkeyPatch, *roles: StaffRole) -> Iterator[Page]:
    monkeypatch.setenv("SAFEGUARDING_ENV", "test")
    monkeypatch.setenv("STAFF_OIDC_ISSUER", "http://127.0.0.1:8080/realms/safeguarding")
    services = Services()
    backends = Backends(
        {"casework": "http://cw", "notifier": "http://nt", "meetings": "http://ms"}, 5
    )
    backends.client = httpx.AsyncClient(transport=httpx.MockTransport(services.handle))
    made = console_app(backends, (tasks, referrals, training))
    session = made.sign_in("advisor-day", "token", *roles)
    with TestClient(made.app, base_url=ORIGIN, follow_redirects=False) as client:
        client.cookies.set(made.console.cookie_name, session.id)
        yield Page(client, services, session.csrf_token)


@pytest.fixture
def advisor(monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    yield from console_page(monkeypatch, StaffRole.ADVISOR)


@pytest.fixture
def coordinator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    yield from console_page(monkeypatch, StaffRole.MEETING_COORDINATOR)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def error_beside(html: str, field: str) -> str:
    found = re.search(
        rf'<p id="{re.escape(field)}-error" class="govuk-error-message">(.*?)</p>', html, re.S
    )
    assert found, f"no error beside {field}"
    return text_of(found.group(1))


def summary(html: str) -> list[str]:
    found = re.search(r'class="govuk-error-summary__body">(.*?)</div>', html, re.S)
    assert found, "no error summary"
    return [text_of(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]


# Onward referrals ----------------------------------------------------------------------------


def test_an_advisor_adds_a_directory_referral_and_records_a_decline_with_its_reason(
    advisor: Page,
) -> None:
    page = advisor.client.get(f"/tasks/{NEED_TASK}")
    assert page.status_code == 200
    assert 'data-testid="no-referrals"' in page.text
    assert f'<option value="{ENTRY}">Norfolk Safe Haven Housing</option>' in page.text

    added = advisor.post(f"/tasks/{NEED_TASK}/referrals",
                         {"choice": ENTRY, "name": "", "method": "email", "made_on": "2026-11-30"})  # fmt: skip
    assert added.status_code == 303
    assert added.headers["location"] == f"/tasks/{NEED_TASK}#referrals"
    assert advisor.services.sent() == (
        "POST", f"/v1/tasks/{NEED_TASK}/referrals",
        {"method": "email", "organisation_id": ENTRY, "made_on": "2026-11-30"},
    )  # fmt: skip
    referral_id = advisor.services.referrals[0]["referral_id"]

    page = advisor.client.get(f"/tasks/{NEED_TASK}")
    assert "Referral added." in page.text
    listed = text_of(page.text.split(f'data-referral="{referral_id}"')[1].split("</li>")[0])
    assert "Norfolk Safe Haven Housing How E-mail Made on 2026-11-30" in listed
    assert "Outcome now Made, no answer yet" in listed
    offered = re.findall(
        rf'id="outcome-{referral_id}[^"]*" name="outcome" type="radio" value="(\w+)"', page.text
    )
    assert offered == ["accepted", "declined", "waiting_list"]

    declined = advisor.post(f"/tasks/{NEED_TASK}/referrals/{referral_id}/outcome",
                            {"outcome": "declined", "decline_reason": "no_capacity"})  # fmt: skip
    assert declined.status_code == 303
    assert advisor.services.sent()[2] == {"outcome": "declined", "decline_reason": "no_capacity"}
    page = advisor.client.get(f"/tasks/{NEED_TASK}")
    assert "Referral outcome recorded: Declined (No capacity)." in page.text
    assert "Declined: No capacity" in text_of(page.text)
    # Declined is final: no outcome form is offered for it any more.
    assert f"/referrals/{referral_id}/outcome" not in page.text


def test_a_referral_to_an_entry_not_suggested_or_retired_since_shows_its_name(
    advisor: Page,
) -> None:
    """The suggestions list only live entries for the task's need and district; a referral made
    to another entry, or to one retired since, is named from the directory, retired included."""
    for organisation in ("kings-lynn-legal-advice", "closed-night-shelter"):
        made = advisor.services.make(NEED_TASK, {"organisation_id": ENTRY, "method": "phone"})
        assert made.status_code == 201, made.text
        advisor.services.referrals[-1]["organisation_id"] = organisation
    page = advisor.client.get(f"/tasks/{NEED_TASK}")
    assert page.status_code == 200
    shown = [text_of(part.split("</li>")[0]) for part in page.text.split("data-referral=")[1:]]
    assert [line.split(" How ")[0].split('"> ')[-1] for line in shown] == [
        "King's Lynn Legal Advice", "Closed Night Shelter",
    ]  # fmt: skip
    assert ("GET", "/v1/directory", None) in advisor.services.calls


def test_a_named_organisation_is_sent_by_name_and_a_bad_name_is_refused_beside_its_field(
    advisor: Page,
) -> None:
    refused = advisor.post(f"/tasks/{NEED_TASK}/referrals",
                           {"choice": "other", "name": "night shelter @ 01632", "method": "phone",
                            "made_on": "2026-11-30"})  # fmt: skip
    assert refused.status_code == 422
    assert advisor.services.sent()[2]["organisation_name"] == "night shelter @ 01632"
    assert "Traceback" not in refused.text
    message = error_beside(refused.text, "referral-name")
    assert message.startswith("Error: Enter the organisation's short name")
    assert summary(refused.text) == [message.removeprefix("Error: ")]
    assert 'value="night shelter @ 01632"' in refused.text  # what was typed, to correct
    assert advisor.services.referrals == []

    added = advisor.post(f"/tasks/{NEED_TASK}/referrals",
                         {"choice": "other", "name": "Norwich Night Shelter", "method": "phone",
                          "made_on": ""})  # fmt: skip
    assert added.status_code == 303
    assert advisor.services.sent()[2] == {"method": "phone",
                                             "organisation_name": "Norwich Night Shelter"}  # fmt: skip


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"choice": ENTRY, "name": "Norwich Night Shelter"}, "referral-choice", "not both"),
        ({"choice": "other", "name": ""}, "referral-name", "short name"),
        ({"choice": ENTRY, "made_on": "2026-12-25"}, "referral-made-on", "later than today"),
        ({"choice": ENTRY, "made_on": "2026-02-30"}, "referral-made-on", "real date"),
        ({"choice": ENTRY, "method": "fax"}, "referral-method-phone", "how it was made"),
        ({"choice": "retired-entry"}, "referral-choice", "no longer in the directory"),
    ],
)
def test_each_refusal_of_a_new_referral_is_placed_beside_its_field(
    advisor: Page, form: dict[str, str], field: str, words: str
) -> None:
    sent = {"name": "", "method": "phone", "made_on": "2026-11-30"} | form
    refused = advisor.post(f"/tasks/{NEED_TASK}/referrals", sent)
    assert refused.status_code == 422
    assert words in error_beside(refused.text, field)
    assert len(summary(refused.text)) == 1
    assert advisor.services.referrals == []


def test_a_change_the_table_refuses_is_a_409_summary_and_a_decline_needs_its_reason(
    advisor: Page,
) -> None:
    advisor.post(f"/tasks/{NEED_TASK}/referrals",
                 {"choice": ENTRY, "name": "", "method": "phone", "made_on": "2026-11-30"})  # fmt: skip
    referral_id = advisor.services.referrals[0]["referral_id"]
    path = f"/tasks/{NEED_TASK}/referrals/{referral_id}/outcome"

    no_reason = advisor.post(path, {"outcome": "declined", "decline_reason": ""})
    assert no_reason.status_code == 422
    assert error_beside(no_reason.text, f"decline-reason-{referral_id}") == (
        "Error: Choose why it was declined."
    )
    no_choice = advisor.post(path, {})
    assert no_choice.status_code == 422
    assert error_beside(no_choice.text, f"outcome-{referral_id}") == "Error: Choose the outcome."

    # Sent as a stale page would (completed is not offered from made): casework's 409, in words.
    skipped = advisor.post(path, {"outcome": "completed"})
    assert skipped.status_code == 409
    assert summary(skipped.text) == ["A referral that is made cannot become completed."]
    assert advisor.services.referrals[0]["outcome"] == "made"

    assert advisor.client.post(
        f"/tasks/{NEED_TASK}/referrals/not-an-id/outcome",
        data={"csrf_token": advisor.csrf, "outcome": "accepted"}, headers=SAME_ORIGIN,
    ).status_code == 404  # fmt: skip


def test_a_task_that_is_not_a_need_offers_no_referral_form_and_casework_refuses_one(
    advisor: Page,
) -> None:
    page = advisor.client.get(f"/tasks/{FIRST_CONTACT}")
    assert page.status_code == 200
    assert 'id="referrals"' not in page.text
    assert f"/tasks/{FIRST_CONTACT}/referrals" not in page.text
    forced = advisor.post(f"/tasks/{FIRST_CONTACT}/referrals",
                          {"choice": "other", "name": "Norwich Law Centre", "method": "phone"})  # fmt: skip
    assert forced.status_code == 409
    assert summary(forced.text) == [
        "A first_contact task is not a need: it takes no onward referral."
    ]


def test_a_post_without_the_forms_token_records_nothing(advisor: Page) -> None:
    forged = advisor.client.post(
        f"/tasks/{NEED_TASK}/referrals",
        data={"csrf_token": "wrong", "choice": ENTRY, "method": "phone"}, headers=SAME_ORIGIN,
    )  # fmt: skip
    assert forged.status_code == 403
    assert not [call for call in advisor.services.calls if call[0] == "POST"]


def test_only_the_outcomes_casework_allows_are_offered() -> None:
    # The table in services/casework/referrals.py's docstring, written out here.
    assert next_outcomes("made") == ["accepted", "declined", "waiting_list"]
    assert next_outcomes("waiting_list") == ["accepted", "declined"]
    assert next_outcomes("accepted") == ["declined", "completed"]
    assert next_outcomes("declined") == next_outcomes("completed") == next_outcomes("x") == []
    assert referral_body(ENTRY, "", "phone", "") == {"method": "phone", "organisation_id": ENTRY}
    assert plain("a referral that is waiting_list cannot become made") == (
        "A referral that is waiting list cannot become made."
    )
    assert referral_errors(BackendError("casework", 409, "x"), {}) == {"": "X."}


# Training sessions ---------------------------------------------------------------------------


def test_the_coordinator_adds_a_session_records_attendance_and_sees_the_pace(
    coordinator: Page,
) -> None:
    page = coordinator.client.get("/training")
    assert page.status_code == 200
    pace = text_of(page.text.split('data-testid="pace"')[1].split("</dl>")[0])
    assert "Held 0 Expected by now 1 Target 3" in pace
    assert "Behind: 1 session short of the pace." in text_of(page.text)

    added = coordinator.post("/training", {
        "day": "2026-11-20", "time": "14:00", "topic": "Spotting labour exploitation",
        "audience": "Norfolk Constabulary\n\n  NHS Norfolk and Waveney ICB  \n",
        "materials_url": "https://intranet.example.org/t.pdf"})  # fmt: skip
    assert added.status_code == 303
    assert coordinator.services.sent()[2] == {
        "starts_at": "2026-11-20T14:00", "topic": "Spotting labour exploitation",
        "audience": ["Norfolk Constabulary", "NHS Norfolk and Waveney ICB"],
        "materials_url": "https://intranet.example.org/t.pdf",
    }  # fmt: skip
    session_id = coordinator.services.sessions[0]["session_id"]
    page = coordinator.client.get("/training")
    assert "Training session added: Spotting labour exploitation." in page.text
    assert 'href="https://intranet.example.org/t.pdf"' in page.text
    assert f'action="/training/{session_id}/attendance"' in page.text

    refused = coordinator.post(f"/training/{session_id}/attendance", {"attending": "twelve"})
    assert refused.status_code == 422
    assert "whole number" in error_beside(refused.text, f"attending-{session_id}")
    recorded = coordinator.post(f"/training/{session_id}/attendance", {"attending": "18"})
    assert recorded.status_code == 303
    assert coordinator.services.sent()[2] == {"attending": 18}
    page = coordinator.client.get("/training")
    assert "Held 1 Expected by now 1" in text_of(page.text)
    assert "18 attended" in text_of(page.text)
    assert "On pace." in text_of(page.text)


def test_a_refused_session_keeps_what_was_typed_with_each_error_beside_its_field(
    coordinator: Page,
) -> None:
    refused = coordinator.post("/training", {
        "day": "2026-02-30", "time": "14:00", "topic": "Case MS-2026-7KQ2M4 review",
        "audience": "", "materials_url": "http://intranet.example.org/t.pdf"})  # fmt: skip
    assert refused.status_code == 422
    assert "Traceback" not in refused.text
    for name in ("session-date", "topic", "audience", "materials-url"):
        assert error_beside(refused.text, name).startswith("Error: Enter")
    assert len(summary(refused.text)) == 4
    assert 'value="Case MS-2026-7KQ2M4 review"' in refused.text
    assert coordinator.services.sessions == []


def test_the_training_page_is_for_the_coordinator_and_head_only(advisor: Page) -> None:
    assert advisor.client.get("/training").status_code == 403

    def labels(*roles: StaffRole) -> list[str]:
        store = SessionStore(900, 36000)
        return [
            label
            for _, label in nav_items(store.create("p", frozenset(roles), "a", None, None, 60))
        ]

    assert "Training" in labels(StaffRole.MEETING_COORDINATOR)
    assert "Training" in labels(StaffRole.HEAD_OF_SERVICE)
    assert "Training" not in labels(StaffRole.ADVISOR)
    assert "Training" not in labels(StaffRole.VAULT_READER)


def test_the_pace_and_the_form_in_words() -> None:
    base = {"held": 0, "expected_by_now": 0, "target": 3, "behind": False, "shortfall": 0}
    assert pace_words(base) == "On pace."
    assert pace_words(base | {"held": 2, "expected_by_now": 1}) == "Ahead of the pace by 1 session."
    assert pace_words(base | {"held": 0, "expected_by_now": 2, "behind": True, "shortfall": 2}) == (
        "Behind: 2 sessions short of the pace."
    )
    assert pace_words(base | {"held": 3, "expected_by_now": 2}) == "Target met."
    assert audience_lines(" A \n\nB\n") == ["A", "B"]
    assert session_body("2027-03-10", "", "T", "A", "") == {
        "starts_at": "2027-03-10",
        "topic": "T",
        "audience": ["A"],
    }


def test_without_a_training_series_the_page_says_so(coordinator: Page) -> None:
    coordinator.services.training_series = False
    page = coordinator.client.get("/training")
    assert page.status_code == 200
    assert "no training series configured" in text_of(page.text)
    assert 'action="/training"' not in page.text
