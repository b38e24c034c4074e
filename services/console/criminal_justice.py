"""A case's criminal-justice support record on the case page: the person's engagement with the
investigation (never anything of what they said: the record has no free text), its history, and
for advisors and the head of service a form offering only the changes allowed from the current
state, with a booking's date and time typed in London time. casework's API
(GET/POST /v1/cases/{case}/criminal-justice) decides who may see and change it; the console shows
the form only to those it would accept, and shows its refusals as it gave them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.casework.criminal_justice import ALLOWED, Engagement
from services.console.backends import BackendError
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, render, require, see_other
from shared.clock import LONDON
from shared.staff_auth import StaffRole

router = APIRouter()
CASEWORK_ROLES = (StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE)
Caseworker = Depends(require(*CASEWORK_ROLES))
BOOKED = Engagement.SUPPORT_BOOKED.value
STATE_LABELS = {
    "not_yet_asked": "Not yet asked",
    "willing_to_give_account": "Willing to give an account",
    "declined": "Declined to give an account",
    "account_given": "Account given",
    "support_booked": "Support booked",
}
KINDS = {"interview": "Police interview", "court": "Court hearing"}


def next_states(state: str) -> list[str]:
    """The states the record may move to from `state` other than a booking (offered as a form of
    their own), in the order the states are listed; nothing for an unknown state."""
    try:
        allowed = ALLOWED[Engagement(state)]
    except ValueError:
        return []
    return [e.value for e in Engagement if e in allowed and e is not Engagement.SUPPORT_BOOKED]


def may_book(state: str) -> bool:
    try:
        return Engagement.SUPPORT_BOOKED in ALLOWED[Engagement(state)]
    except ValueError:
        return False


def london_moment(value: str) -> datetime | None:
    """A datetime-local value ("2027-06-16T10:00", no offset) read as London wall-clock time, as
    the aware instant the API takes; None when it is not a date and time."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is not None or len(value.strip()) < 16:
        return None
    return moment.replace(tzinfo=LONDON)


def plain_refusal(message: str) -> str:
    """casework's refusal ("an engagement that is declined cannot become account_given") with the
    states in words."""
    for state in STATE_LABELS:
        message = message.replace(state, state.replace("_", " "))
    return message[:1].upper() + message[1:]


async def support_record(request: Request, session: Session, case: str) -> dict[str, Any] | None:
    """The record for the case page, or None for someone casework would not show it to."""
    if not session.has(*CASEWORK_ROLES):
        return None
    try:
        record: dict[str, Any] = await console_of(request).backends.get(
            "casework", f"/v1/cases/{case}/criminal-justice", session.access_token
        )
    except BackendError as error:
        if error.status in (403, 404):
            return None
        raise
    return {**record, "next_states": next_states(record["state"]),
            "may_book": may_book(record["state"])}  # fmt: skip


def cj_context() -> dict[str, Any]:
    return {"cj_labels": STATE_LABELS, "cj_kinds": KINDS}


@router.post("/cases/{case}/criminal-justice", dependencies=[CsrfChecked])
async def change(
    request: Request,
    case: str,
    state: str = Form(""),
    kind: str = Form(""),
    booked_at: str = Form(""),
    session: Session = Caseworker,
) -> Response:
    error, status = None, 422
    body: dict[str, Any] = {"state": state}
    if state == BOOKED:
        moment = london_moment(booked_at)
        if kind not in KINDS or moment is None:
            error = "Choose an interview or a court hearing, and enter its date and time."
        else:
            body |= {"kind": kind, "booked_at": moment.isoformat()}
    elif state not in STATE_LABELS:
        error = "Choose what has changed."
    if error is None:
        try:
            await console_of(request).backends.post(
                "casework", f"/v1/cases/{case}/criminal-justice", session.access_token, body
            )
        except BackendError as refused:
            if refused.status not in (409, 422):
                raise
            error, status = plain_refusal(refused.message), refused.status
    if error is not None:
        from services.console.cases import timeline  # cases imports this module for its page

        return render(
            request,
            "case.html",
            {"title": f"Case {case}", "case": case,
             **await timeline(request, session, case),
             "may_reveal": session.has(StaffRole.VAULT_READER),
             "cj": await support_record(request, session, case), "cj_error": error,
             "cj_form": {"state": state, "kind": kind, "booked_at": booked_at}, **cj_context()},
            status,
        )  # fmt: skip
    session.flash.append(f"Criminal-justice support: {STATE_LABELS[state].lower()} recorded.")
    return see_other(request, f"/cases/{case}#criminal-justice")
