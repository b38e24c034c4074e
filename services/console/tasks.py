"""My tasks (advisors; the head of service sees everyone's): open tasks by deadline with overdue
ones marked, and a task page to start, close, mark not needed, close as referred and reassign,
with the task's onward referral records (services/console/referrals.py). Every change goes
through casework's API, which applies its own rules (who may see and change a task, which
transitions are allowed); a refusal is shown on the page as casework gave it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.casework.lifecycle import ORGANISATIONS
from services.console.backends import BackendError
from services.console.referrals import referral_section
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, parse_time, render, require, see_other
from shared.clock import LONDON
from shared.staff_auth import StaffRole

router = APIRouter()
Caseworker = Depends(require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE))
ACTIVE = ("open", "in_progress")
METHODS = ("phone", "email", "online_form", "in_person", "letter")


def organisation_label(value: str) -> str:
    return {"gp": "GP", "salvation_army_nrm_support": "Salvation Army (NRM support)"}.get(
        value, value.replace("_", " ").capitalize()
    )


def with_overdue(task: dict[str, Any], now: datetime) -> dict[str, Any]:
    due = parse_time(task["due_at"])
    overdue = task["status"] in ACTIVE and due is not None and due <= now
    return {**task, "overdue": task.get("overdue", overdue)}


@router.get("/tasks")
async def my_tasks(request: Request, session: Session = Caseworker) -> Response:
    backends = console_of(request).backends
    # Only the tasks still to do: every task ever closed would otherwise cross on each visit.
    found: list[dict[str, Any]] = await backends.get(
        "casework", "/v1/tasks", session.access_token, {"sort": "due_at", "status": list(ACTIVE)}
    )
    now = datetime.now(UTC)
    active = [with_overdue(task, now) for task in found if task["status"] in ACTIVE]
    mine = [task for task in active if task["assignee"] == session.person_id]
    others = [task for task in active if task["assignee"] != session.person_id]
    return render(
        request,
        "tasks.html",
        {"title": "My tasks", "mine": mine, "others": others,
         "sees_all": session.has(StaffRole.HEAD_OF_SERVICE)},
    )  # fmt: skip


async def task_page(
    request: Request, session: Session, task_id: str, error: str | None = None, status: int = 200,
    referral_errors: dict[str, str] | None = None, referral_form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    backends = console_of(request).backends
    task, history, people, suggestions, found = await asyncio.gather(
        backends.get("casework", f"/v1/tasks/{task_id}", session.access_token),
        backends.get("casework", f"/v1/tasks/{task_id}/history", session.access_token),
        advisors(request, session),
        backends.get("casework", f"/v1/tasks/{task_id}/suggestions", session.access_token),
        backends.get("casework", f"/v1/tasks/{task_id}/referrals", session.access_token),
    )
    section = await referral_section(request, session, task, found, suggestions)
    return render(
        request,
        "task.html",
        {"title": f"Task: {task['kind'].replace('_', ' ')}", "task": with_overdue(task, datetime.now(UTC)),
         "history": history, "error": error, "organisations": sorted(ORGANISATIONS),
         "organisation_label": organisation_label, "methods": METHODS, "advisors": people,
         "today": datetime.now(UTC).date().isoformat(), "suggestions": suggestions,
         # A referral's made_on is a London day, as casework reads it.
         "referral_today": datetime.now(LONDON).date().isoformat(),
         "referral_errors": referral_errors or {}, "referral_form": referral_form or {},
         **section},
        status,
    )  # fmt: skip


async def advisors(request: Request, session: Session) -> list[str]:
    """The people a task may be handed to: the rota's advisors (from the notifier's rota API)."""
    rota: dict[str, Any] = await console_of(request).backends.get(
        "notifier", "/v1/rota/people", session.access_token
    )
    return [person["id"] for person in rota["people"] if person["role"] == "advisor"]


@router.get("/tasks/{task_id}")
async def task(request: Request, task_id: str, session: Session = Caseworker) -> Response:
    return await task_page(request, session, task_id)


@router.post("/tasks/{task_id}/status", dependencies=[CsrfChecked])
async def change_status(
    request: Request,
    task_id: str,
    status: str = Form(),
    reason: str | None = Form(None),
    organisation: str | None = Form(None),
    method: str | None = Form(None),
    referred_on: str | None = Form(None),
    outcome: str | None = Form(None),
    session: Session = Caseworker,
) -> Response:
    body = {"status": status, "reason": reason or None, "organisation": organisation or None,
            "method": method or None, "referred_on": referred_on or None,
            "outcome": outcome or None}  # fmt: skip
    try:
        await console_of(request).backends.post(
            "casework", f"/v1/tasks/{task_id}/status", session.access_token,
            {key: value for key, value in body.items() if value is not None},
        )  # fmt: skip
    except BackendError as refused:
        if refused.status not in (409, 422):
            raise
        return await task_page(request, session, task_id, refused.message, refused.status)
    session.flash.append(
        {"in_progress": "Task started.", "done": "Task closed.", "not_needed": "Task closed as not "
         "needed.", "referred": "Referral recorded."}.get(status, "Task updated.")
    )  # fmt: skip
    return see_other(request, f"/tasks/{task_id}")


@router.post("/tasks/{task_id}/assignee", dependencies=[CsrfChecked])
async def reassign(
    request: Request, task_id: str, person_id: str = Form(), session: Session = Caseworker
) -> Response:
    try:
        await console_of(request).backends.post(
            "casework", f"/v1/tasks/{task_id}/assignee", session.access_token,
            {"person_id": person_id},
        )  # fmt: skip
    except BackendError as refused:
        if refused.status not in (403, 409, 422):
            raise
        return await task_page(request, session, task_id, refused.message, refused.status)
    session.flash.append(f"Task reassigned to {person_id}.")
    return see_other(request, f"/tasks/{task_id}" if person_id == session.person_id else "/tasks")
