"""Training and awareness sessions for front-line professionals, for the meeting coordinator and
the head of service: the pace towards the funder's target (held, expected by now on a straight
line, the target), every session with its audience and materials, a form to add a session (its
date and time typed in UK time) and, once a session has started, a form to record how many came.

The meeting scheduler's API (GET/POST /v1/training-sessions, PUT …/{id}/attendance) decides who
may see and change them and what a session must hold; its refusals are shown in an error
summary, each beside the field it concerns. No field is about a person: topics and audiences are
organisations and subjects, as the scheduler's patterns hold them."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.console.backends import BackendError
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, parse_time, render, require, see_other
from shared.clock import LONDON
from shared.staff_auth import StaffRole

router = APIRouter()
Coordinator = Depends(require(StaffRole.MEETING_COORDINATOR, StaffRole.HEAD_OF_SERVICE))
SESSIONS = "/v1/training-sessions"
SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_AUDIENCE_LINES = 60  # the API takes 30; more lines are still sent, so it says so

# The add form's field ids (the error summary links to them).
_FIELDS = {"starts_at": "session-date", "topic": "topic", "audience": "audience",
           "materials_url": "materials-url"}  # fmt: skip
_MESSAGES = {
    "session-date": "Enter the date and time it starts, as a real date (UK time).",
    "topic": "Enter a topic of 3 to 120 characters on one line: letters, digits and . , ' & ( ) "
    "/ + : ? ! - only, with no case reference, phone number or e-mail address.",
    "audience": "Enter 1 to 30 organisations, one a line, each once: a short name such as "
    "Norfolk Constabulary (letters, digits, spaces and . , ' & ( ) / + - only).",
    "materials-url": "Enter the materials' link as an https:// address, or leave it empty.",
}


def audience_lines(text: str) -> list[str]:
    """One organisation a line; blank lines and the spaces around a name dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()][:MAX_AUDIENCE_LINES]


def session_body(day: str, time: str, topic: str, audience: str, materials: str) -> dict[str, Any]:
    """The create body: the date and time as London wall-clock time (no offset: the scheduler
    reads it as London's, GMT or BST), an empty materials link left out."""
    body: dict[str, Any] = {
        "starts_at": f"{day.strip()}T{time.strip()}" if time.strip() else day.strip(),
        "topic": topic.strip(),
        "audience": audience_lines(audience),
    }
    if materials.strip():
        body["materials_url"] = materials.strip()
    return body


def session_errors(refused: BackendError) -> dict[str, str]:
    """The scheduler's 422 as the form's fields and plain words ("" for the summary only)."""
    found: dict[str, str] = {}
    for error in refused.errors:
        parts = error.get("location", "").split(".")
        field = _FIELDS.get(parts[1], "") if len(parts) > 1 and parts[0] == "body" else ""
        found.setdefault(field, _MESSAGES.get(field) or _sentence(error.get("message", "")))
    return found or {"": _sentence(refused.message)}


def attendance_errors(refused: BackendError, session_id: str) -> dict[str, str]:
    if refused.status == 422:
        return {f"attending-{session_id}": "Enter how many attended, as a whole number from 0."}
    return {"": _sentence(refused.message)}


def _sentence(message: str) -> str:
    text = re.sub(r"^Value error, ", "", message) or "The request was refused"
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def pace_words(progress: Mapping[str, Any]) -> str:
    """Where the project stands, in a sentence: behind by how many, or on pace."""
    held, expected = int(progress["held"]), int(progress["expected_by_now"])
    if progress.get("behind"):
        short = int(progress["shortfall"])
        return f"Behind: {short} {'session' if short == 1 else 'sessions'} short of the pace."
    if held >= int(progress["target"]):
        return "Target met."
    ahead = held - expected
    return (
        "On pace."
        if ahead <= 0
        else f"Ahead of the pace by {ahead} {'session' if ahead == 1 else 'sessions'}."
    )


def shown_sessions(sessions: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Each session with whether its attendance may be recorded yet (after its start) and its
    materials link only when it is https (the scheduler holds it to that; the page checks too)."""
    out = []
    for item in sessions:
        starts = parse_time(item["starts_at"])
        link = item.get("materials_url")
        out.append({**item, "started": starts is not None and starts <= now,
                    "link": link if isinstance(link, str) and link.startswith("https://") else None})  # fmt: skip
    return out


async def training_page(
    request: Request, session: Session, errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None, status: int = 200,
) -> Response:  # fmt: skip
    found: dict[str, Any] = await console_of(request).backends.get(
        "meetings", SESSIONS, session.access_token
    )
    now = datetime.now(UTC)
    return render(
        request,
        "training.html",
        {"title": "Training sessions", "series_title": found["title"],
         "progress": found["progress"], "pace": pace_words(found["progress"]),
         "sessions": shown_sessions(found["sessions"], now), "errors": errors or {},
         "form": form or {}, "today": now.astimezone(LONDON).date().isoformat()},
        status,
    )  # fmt: skip


@router.get("/training")
async def training(request: Request, session: Session = Coordinator) -> Response:
    try:
        return await training_page(request, session)
    except BackendError as absent:
        if absent.status != 404:
            raise
        # The scheduler has no training series configured (deploy/config/meetings.yaml).
        return render(
            request, "training.html", {"title": "Training sessions", "not_configured": True}
        )


@router.post("/training", dependencies=[CsrfChecked])
async def add_session(
    request: Request,
    day: str = Form(""),
    time: str = Form(""),
    topic: str = Form(""),
    audience: str = Form(""),
    materials_url: str = Form(""),
    session: Session = Coordinator,
) -> Response:
    form = {"day": day, "time": time, "topic": topic, "audience": audience,
            "materials_url": materials_url}  # fmt: skip
    try:
        await console_of(request).backends.post(
            "meetings", SESSIONS, session.access_token,
            session_body(day, time, topic, audience, materials_url),
        )  # fmt: skip
    except BackendError as refused:
        if refused.status != 422:
            raise
        return await training_page(request, session, session_errors(refused), form, 422)
    session.flash.append(f"Training session added: {topic.strip()}.")
    return see_other(request, "/training")


@router.post("/training/{session_id}/attendance", dependencies=[CsrfChecked])
async def record_attendance(
    request: Request, session_id: str, attending: str = Form(""), session: Session = Coordinator
) -> Response:
    if not SESSION_ID.fullmatch(session_id):  # never a path of another API
        raise BackendError("meetings", 404, "No such training session.")
    value = attending.strip()
    # A whole number is sent as one; anything else as typed, for the scheduler to refuse.
    body: dict[str, Any] = {"attending": int(value) if value.isdigit() else value}
    try:
        await console_of(request).backends.put(
            "meetings", f"{SESSIONS}/{session_id}/attendance", session.access_token, body
        )
    except BackendError as refused:
        if refused.status not in (409, 422):
            raise
        form = {"session_id": session_id, "attending": attending}
        return await training_page(
            request, session, attendance_errors(refused, session_id), form, refused.status
        )
    session.flash.append(f"Attendance recorded: {body['attending']}.")
    return see_other(request, "/training")
