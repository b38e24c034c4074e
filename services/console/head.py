"""The head of service's pages: what needs them now (unanswered alerts and escalations, overdue
tasks by advisor, rota gaps), the rota for the next 14 days with a form to add leave or cover
(written through the notifier's API, which pages from it), and the funder figures with charts."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.console.alerts_page import open_alerts
from services.console.backends import BackendError
from services.console.charts import bar_chart, progress_bar
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, render, require, see_other
from shared.staff_auth import StaffRole

router = APIRouter()
Head = Depends(require(StaffRole.HEAD_OF_SERVICE))
ROTA_DAYS = 14


@router.get("/head")
async def overview(request: Request, session: Session = Head) -> Response:
    backends, token = console_of(request).backends, session.access_token
    alerts, overdue, rota = await asyncio.gather(
        open_alerts(request, session),
        backends.get("casework", "/v1/tasks", token, {"overdue": "true", "sort": "due_at"}),
        backends.get("notifier", "/v1/rota", token, {"days": ROTA_DAYS}),
    )
    by_advisor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for task in overdue:
        by_advisor[task["assignee"] or "unassigned"].append(task)
    return render(
        request,
        "head.html",
        {"title": "Service", **alerts,
         "escalated": [alert for alert in alerts["alerts"] if alert["steps_fired"] > 1],
         "overdue_by_advisor": sorted(by_advisor.items()),
         "gaps": [gap for day in rota["days"] for gap in day["gaps"]]},
    )  # fmt: skip


async def rota_page(
    request: Request, session: Session, error: str | None = None, status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    backends, token = console_of(request).backends, session.access_token
    rota, changes, people = await asyncio.gather(
        backends.get("notifier", "/v1/rota", token, {"days": ROTA_DAYS}),
        backends.get("notifier", "/v1/rota/changes", token),
        backends.get("notifier", "/v1/rota/people", token),
    )
    return render(
        request,
        "rota.html",
        {"title": "Rota", "rota": rota, "changes": changes["changes"], "error": error,
         "people": [p["id"] for p in people["people"] if p["role"] in ("advisor", "head_of_service")],
         "form": form or {}},
        status,
    )  # fmt: skip


@router.get("/head/rota")
async def rota(request: Request, session: Session = Head) -> Response:
    return await rota_page(request, session)


@router.post("/head/rota/changes", dependencies=[CsrfChecked])
async def add_change(
    request: Request,
    kind: str = Form(""),
    person_id: str = Form(""),
    starts_at: str = Form(""),
    ends_at: str = Form(""),
    session: Session = Head,
) -> Response:
    form = {"kind": kind, "person_id": person_id, "starts_at": starts_at, "ends_at": ends_at}
    if not all(form.values()):
        return await rota_page(
            request, session, "Choose leave or cover, the person, and when it starts and ends.",
            422, form,
        )  # fmt: skip
    try:
        # datetime-local values carry no offset: the notifier reads them as London time.
        await console_of(request).backends.post(
            "notifier", "/v1/rota/changes", session.access_token, form
        )
    except BackendError as refused:
        if refused.status not in (409, 422):
            raise
        return await rota_page(request, session, refused.message, refused.status, form)
    session.flash.append(
        f"{'Leave' if kind == 'leave' else 'Cover'} added for {person_id}, "
        f"{starts_at.replace('T', ' ')} to {ends_at.replace('T', ' ')}."
    )
    return see_other(request, "/head/rota")


@router.post("/head/rota/changes/{change_id}/remove", dependencies=[CsrfChecked])
async def remove_change(request: Request, change_id: int, session: Session = Head) -> Response:
    await console_of(request).backends.delete(
        "notifier", f"/v1/rota/changes/{change_id}", session.access_token
    )
    session.flash.append("Rota change removed.")
    return see_other(request, "/head/rota")


@router.get("/head/figures")
async def figures(request: Request, session: Session = Head) -> Response:
    backends, token = console_of(request).backends, session.access_token
    casework, alerting = await asyncio.gather(
        backends.get("casework", "/v1/figures", token),
        backends.get("notifier", "/v1/figures", token),
    )
    referrals = sorted(casework["referrals_by_organisation"].items(), key=lambda kv: -kv[1])
    within = alerting["by_urgency"]
    return render(
        request,
        "figures.html",
        {"title": "Figures", "casework": casework, "alerting": alerting,
         "supported_chart": progress_bar(
             "People supported against the three-year target",
             casework["people_supported"], casework["target"]),
         "referral_chart": bar_chart("Onward referrals by organisation",
                                     [(name.replace("_", " "), count) for name, count in referrals]),
         "ack_chart": bar_chart(
             "Alerts acknowledged within target, by urgency (per cent)",
             [(row["urgency"], row["within_target_percent"] or 0) for row in within],
             maximum=100, unit="%")},
    )  # fmt: skip
