"""A case: its timeline (contact received, alerts raised and acknowledged, tasks opened and closed,
agenda items), built from the services' APIs and holding no identity; and, for a vault reader
only, the personal data, shown after they type why they need it. The read is audited by intake
(who, when, why); the answer is never logged, cached or kept by the console."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.console.alerts_page import OPEN_ALERTS_SHOWN
from services.console.backends import BackendError
from services.console.criminal_justice import cj_context, support_record
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, parse_time, render, require
from shared.staff_auth import StaffRole

router = APIRouter()
CaseViewer = Depends(require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE, StaffRole.VAULT_READER))
VaultReader = Depends(require(StaffRole.VAULT_READER))
PURPOSE_MIN, PURPOSE_MAX = 5, 500
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A case's alerts on its timeline: the notifier's largest page, as for the open-alert list. A case
# with more (years of re-referrals, many raids) says how many older ones the timeline leaves out.
CASE_ALERTS_SHOWN = OPEN_ALERTS_SHOWN


async def _optional(call: Any) -> Any:
    """A part of the timeline the person may not see (403) or that is not there yet (404) is left
    out rather than failing the page."""
    try:
        return await call
    except BackendError as error:
        if error.status in (403, 404):
            return None
        raise


async def timeline(request: Request, session: Session, case: str) -> dict[str, Any]:
    """The case page's `events`, oldest first, and `alerts_not_listed`: how many of the case's
    older alerts are left off because the notifier lists the newest CASE_ALERTS_SHOWN."""
    backends, token = console_of(request).backends, session.access_token
    summary, alerts, history, items = await asyncio.gather(
        _optional(backends.get("intake", f"/v1/cases/{case}", token)),
        _optional(backends.get("notifier", "/v1/alerts", token,
                               {"status": "all", "case_reference": case,
                                "limit": CASE_ALERTS_SHOWN})),
        _optional(backends.get("casework", f"/v1/cases/{case}/history", token)),
        _optional(backends.get("meetings", f"/v1/cases/{case}/agenda-items", token)),
    )  # fmt: skip
    events: list[dict[str, Any]] = []
    if summary:
        events.append({"at": summary["received_at"], "what": "Police contact received",
                       "detail": f"{summary.get('pathway', '')} pathway, {summary.get('urgency', '')}"})  # fmt: skip
    for alert in (alerts or {}).get("alerts", []):
        events.append({"at": alert["raised_at"], "what": f"Alert raised ({alert['urgency']})",
                       "detail": f"paged {', '.join(alert['paged_person_ids']) or 'nobody yet'}"})  # fmt: skip
        if alert.get("acknowledged_at"):
            events.append({"at": alert["acknowledged_at"], "what": "Alert acknowledged",
                           "detail": f"by {alert.get('acknowledged_by')}"})  # fmt: skip
    for change in history or []:
        events.append({"at": change["at"], "what": change_label(change),
                       "detail": f"by {change.get('actor', '')}"})  # fmt: skip
    for item in items or []:
        events.append({"at": item.get("at") or item["meeting_starts_at"],
                       "what": f"Agenda: {item['series_title']}, {item['meeting_date']}",
                       "detail": item["status"] + (" (review)" if item.get("review") else "")})  # fmt: skip
    dated = [(parse_time(event["at"]), event) for event in events if event["at"]]
    listed = (alerts or {}).get("alerts", [])
    return {
        "events": [event for _, event in sorted(dated, key=lambda pair: pair[0] or EPOCH)],
        "alerts_not_listed": max(0, (alerts or {}).get("total", len(listed)) - len(listed)),
        "case_alerts_shown": CASE_ALERTS_SHOWN,
    }


def change_label(change: dict[str, Any]) -> str:
    kind = str(change.get("kind") or "").replace("_", " ")
    what = str(change.get("change", "")).replace("_", " ")
    return f"Task {kind}: {what}".replace("  ", " ") + (
        f" → {change['to_value']}".replace("_", " ") if change.get("to_value") else ""
    )


@router.get("/cases/{case}")
async def case_page(request: Request, case: str, session: Session = CaseViewer) -> Response:
    shown, cj = await asyncio.gather(
        timeline(request, session, case), support_record(request, session, case)
    )
    return render(
        request,
        "case.html",
        {"title": f"Case {case}", "case": case, **shown,
         "may_reveal": session.has(StaffRole.VAULT_READER), "cj": cj, **cj_context()},
    )  # fmt: skip


@router.post("/cases/{case}/personal-data", dependencies=[CsrfChecked])
async def reveal(
    request: Request, case: str, purpose: str = Form(""), session: Session = VaultReader
) -> Response:
    purpose = purpose.strip()
    if not PURPOSE_MIN <= len(purpose) <= PURPOSE_MAX:
        return render(
            request,
            "case.html",
            {"title": f"Case {case}", "case": case,
             **await timeline(request, session, case), "may_reveal": True,
             "purpose_error": f"Say why you need it, in {PURPOSE_MIN} to {PURPOSE_MAX} characters."},
            422,
        )  # fmt: skip
    document = await console_of(request).backends.get(
        "intake", f"/v1/cases/{case}/personal-data", session.access_token, {"purpose": purpose}
    )
    return render(
        request,
        "personal_data.html",
        {"title": f"Personal data: {case}", "case": case, "rows": flatten(document)},
    )


def flatten(document: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested personal data as (label, value) rows for a summary list."""
    if isinstance(document, dict):
        rows: list[tuple[str, str]] = []
        for key, value in document.items():
            label = f"{prefix} {key}".strip().replace("_", " ")
            rows += flatten(value, label)
        return rows
    if isinstance(document, list):
        return [(prefix.capitalize(), ", ".join(str(item) for item in document) or "none")]
    return [(prefix.capitalize(), "not known" if document is None else str(document))]
