"""A need task's onward referral records on the task page: each referral's organisation, how and
when it was made and its outcome now; a form to add one (an organisation the directory suggests
for the task, or a short name for one not in it) and, per referral, a form offering only the
outcomes casework's table allows from where it stands, with the decline reasons' fixed list.

casework's API (GET/POST /v1/tasks/{id}/referrals, POST …/{referral_id}/outcome) decides who may
record what; the console shows the forms only on a need task (any other takes no referral) and
shows casework's refusals (422, 409) in an error summary, each beside the field it concerns. The
pure helpers (a form to the API's body, the API's errors to the form's fields) have unit tests."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.casework.directory import NEED_KINDS
from services.casework.referrals import ALLOWED, METHODS, DeclineReason, Outcome
from services.console.backends import BackendError
from services.console.directory import method_label
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, require, see_other
from shared.staff_auth import StaffRole

router = APIRouter()
Caseworker = Depends(require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE))

ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OTHER = "other"  # the "not in the directory" choice: the typed short name is sent instead
OUTCOME_LABELS = {
    "made": "Made, no answer yet",
    "accepted": "Accepted",
    "declined": "Declined",
    "waiting_list": "On a waiting list",
    "completed": "Completed",
}
OUTCOME_TAGS = {"made": "grey", "accepted": "green", "declined": "red",
                "waiting_list": "yellow", "completed": "blue"}  # fmt: skip
REASON_LABELS = {
    "not_eligible": "Not eligible",
    "no_capacity": "No capacity",
    "out_of_area": "Out of area",
    "person_declined": "The person declined",
    "person_unreachable": "The person could not be reached",
    "need_met_elsewhere": "Need met elsewhere",
    "other_service_more_suitable": "Another service is more suitable",
}
assert set(REASON_LABELS) == {reason.value for reason in DeclineReason}
assert set(OUTCOME_LABELS) == {outcome.value for outcome in Outcome}

# The form's field ids (the error summary links to them).
ORGANISATION, NAME, METHOD, MADE_ON = (
    "referral-choice", "referral-name", "referral-method-phone", "referral-made-on",
)  # fmt: skip


def outcome_field(referral_id: str) -> str:
    return f"outcome-{referral_id}"


def reason_field(referral_id: str) -> str:
    return f"decline-reason-{referral_id}"


def next_outcomes(outcome: str) -> list[str]:
    """The outcomes casework's table allows from `outcome`, in the order they are offered."""
    try:
        allowed = ALLOWED[Outcome(outcome)]
    except ValueError:
        return []
    return [o.value for o in Outcome if o in allowed]


def referral_body(choice: str, name: str, method: str, made_on: str) -> dict[str, Any]:
    """The create body from the form: a directory entry's id, or the typed short name when the
    person chose "not in the directory" (a name typed beside a directory choice is sent too, so
    casework refuses the pair rather than the console dropping one)."""
    body: dict[str, Any] = {"method": method}
    if choice and choice != OTHER:
        body["organisation_id"] = choice
    if name.strip() or choice == OTHER:
        body["organisation_name"] = name.strip()
    if made_on:
        body["made_on"] = made_on
    return body


def referral_errors(refused: BackendError, body: Mapping[str, Any]) -> dict[str, str]:
    """casework's refusal of a new referral as the form fields it concerns (their ids) and plain
    words; what concerns no field goes under "" (the summary only)."""
    if refused.status != 422:
        return {"": plain(refused.message)}
    message = refused.message
    if not refused.errors:  # the route's own checks, after the body's schema
        if "future" in message:
            return {MADE_ON: "The date it was made cannot be later than today."}
        if "directory" in message:
            return {ORGANISATION: "That entry is no longer in the directory: choose another, or "
                    "choose Not in the directory and type its name."}  # fmt: skip
        return {"": plain(message)}
    by_id, by_name = "organisation_id" in body, "organisation_name" in body
    if by_id and by_name:
        return {ORGANISATION: "Choose an organisation from the directory, or choose Not in the "
                "directory and type its name: not both."}  # fmt: skip
    # The body is one of two models; only the errors of the one the form meant are about it.
    branch = "ToDirectoryEntry" if by_id else "ToNamedOrganisation" if by_name else ""
    found: dict[str, str] = {}
    for error in refused.errors:
        parts = error.get("location", "").split(".")
        if branch and branch not in parts:
            continue
        field = parts[-1]
        if field in ("organisation_id", "organisation_name") and not branch:
            found.setdefault(ORGANISATION, "Choose the organisation it was made to.")
        elif field == "organisation_name":
            found.setdefault(
                NAME,
                "Enter the organisation's short name: a capital letter or a digit first, then "
                "letters, digits, spaces and & ' ( ) , . / - only (at most 80 characters).",
            )
        elif field == "organisation_id":
            found.setdefault(ORGANISATION, "Choose an organisation from the directory.")
        elif field == "made_on":
            found.setdefault(MADE_ON, "Enter the date it was made, as a real date.")
        elif field == "method":
            found.setdefault(METHOD, "Choose how it was made.")
    return found or {"": plain(message)}


def outcome_body(outcome: str, reason: str) -> dict[str, Any]:
    body: dict[str, Any] = {"outcome": outcome}
    if outcome == Outcome.DECLINED.value:
        body["decline_reason"] = reason or None
    return {key: value for key, value in body.items() if value is not None}


def outcome_errors(refused: BackendError, referral_id: str) -> dict[str, str]:
    """casework's refusal of an outcome as the fields it concerns and plain words."""
    if refused.status == 422:
        for error in refused.errors:
            location = error.get("location", "")
            if location.endswith("decline_reason"):
                return {reason_field(referral_id): "Choose why it was declined."}
        return {outcome_field(referral_id): "Choose the outcome."}
    return {"": plain(refused.message)}


def plain(message: str) -> str:
    """casework's message ("a referral that is declined cannot become accepted") in words."""
    for value in (*OUTCOME_LABELS, *REASON_LABELS):
        message = message.replace(value, value.replace("_", " "))
    message = message.replace("decline_reason", "reason")
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def organisation_names(suggestions: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        str(entry["id"]): str(entry["name"])
        for entry in (suggestions or {}).get("organisations", [])
    }


def shown(referrals: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each referral as the page shows it: the organisation's name (a directory entry's, else the
    id), the outcomes it may still take."""
    return [
        {**referral,
         "organisation": referral.get("organisation_name")
         or names.get(str(referral.get("organisation_id")), str(referral.get("organisation_id"))),
         "next_outcomes": next_outcomes(str(referral["outcome"]))}
        for referral in referrals
    ]  # fmt: skip


async def missing_names(
    request: Request, session: Session, referrals: Sequence[Mapping[str, Any]],
    names: dict[str, str],
) -> dict[str, str]:  # fmt: skip
    """The names of directory entries referred to that the suggestions no longer list (another
    district's, one no longer meeting the need, or one retired since): from the directory itself,
    retired entries included, as a referral made keeps the organisation it was made to."""
    wanted = {str(r["organisation_id"]) for r in referrals if r.get("organisation_id")}
    if not wanted - set(names):
        return names
    entries: list[dict[str, Any]] = await console_of(request).backends.get(
        "casework", "/v1/directory", session.access_token, {"include_retired": "true"}
    )
    return {**{str(e["id"]): str(e["name"]) for e in entries}, **names}


async def referral_section(
    request: Request, session: Session, task: Mapping[str, Any],
    referrals: Sequence[Mapping[str, Any]], suggestions: Mapping[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """The task page's context for the referrals section."""
    names = await missing_names(request, session, referrals, organisation_names(suggestions))
    return {
        "referrals": shown(referrals, names),
        "may_refer": task["kind"] in NEED_KINDS,
        "referral_methods": METHODS,
        "method_label": method_label,
        "outcome_labels": OUTCOME_LABELS,
        "outcome_tags": OUTCOME_TAGS,
        "reason_labels": REASON_LABELS,
        "referral_choices": list(organisation_names(suggestions).items()),
        "other_choice": OTHER,
    }


async def _refused(
    request: Request, session: Session, task_id: str, errors: dict[str, str], status: int,
    form: dict[str, str],
) -> Response:  # fmt: skip
    from services.console.tasks import task_page  # tasks imports this module for its page

    return await task_page(
        request, session, task_id, status=status, referral_errors=errors, referral_form=form
    )


@router.post("/tasks/{task_id}/referrals", dependencies=[CsrfChecked])
async def add_referral(
    request: Request,
    task_id: str,
    choice: str = Form(""),
    name: str = Form(""),
    method: str = Form(""),
    made_on: str = Form(""),
    session: Session = Caseworker,
) -> Response:
    form = {"choice": choice, "name": name, "method": method, "made_on": made_on}
    body = referral_body(choice, name, method, made_on)
    try:
        made: dict[str, Any] = await console_of(request).backends.post(
            "casework", f"/v1/tasks/{task_id}/referrals", session.access_token, body
        )
    except BackendError as refused:
        if refused.status not in (409, 422):
            raise
        return await _refused(
            request, session, task_id, referral_errors(refused, body), refused.status, form
        )
    named = made.get("organisation_name")
    session.flash.append(f"Referral to {named} added." if named else "Referral added.")
    return see_other(request, f"/tasks/{task_id}#referrals")


@router.post("/tasks/{task_id}/referrals/{referral_id}/outcome", dependencies=[CsrfChecked])
async def record_outcome(
    request: Request,
    task_id: str,
    referral_id: str,
    outcome: str = Form(""),
    decline_reason: str = Form(""),
    session: Session = Caseworker,
) -> Response:
    if not ID.fullmatch(referral_id):  # never a path of another API
        raise BackendError("casework", 404, "No such referral.")
    form = {"referral_id": referral_id, "outcome": outcome, "decline_reason": decline_reason}
    try:
        await console_of(request).backends.post(
            "casework", f"/v1/tasks/{task_id}/referrals/{referral_id}/outcome",
            session.access_token, outcome_body(outcome, decline_reason),
        )  # fmt: skip
    except BackendError as refused:
        if refused.status not in (409, 422):
            raise
        return await _refused(
            request, session, task_id, outcome_errors(refused, referral_id), refused.status, form
        )
    label = OUTCOME_LABELS[outcome]
    reason = REASON_LABELS.get(decline_reason) if outcome == Outcome.DECLINED.value else None
    session.flash.append(f"Referral outcome recorded: {label}{f' ({reason})' if reason else ''}.")
    return see_other(request, f"/tasks/{task_id}#referrals")
