""" "Now", for everyone: who is on duty now and next, the open alerts (urgency, when raised,
escalation step, who was paged), acknowledged from the page. The alert list refreshes itself (htmx
polling of /now/alerts) so a new alert appears without a reload; without JavaScript the page still
works and shows the state at load. The list shows nothing that changes with time alone (a clock
time, not an age: web.clock), so a poll is answered 204 unless an alert really changed."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.console.sessions import Session
from services.console.web import (
    EVERYONE,
    CsrfChecked,
    console_of,
    polled_fragment,
    render,
    require,
    see_other,
)
from shared.staff_auth import StaffRole

router = APIRouter()
Everyone = Depends(require(*EVERYONE))
Responder = Depends(require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE))


# The notifier's largest page. Open alerts are the responders' queue, so the page shows them all
# when it can and says how many it leaves out when it cannot (a raid, a weekend nobody answered).
OPEN_ALERTS_SHOWN = 200


async def open_alerts(request: Request, session: Session) -> dict[str, Any]:
    """The newest open alerts (`alerts`) and how many are open in all (`alerts_total`)."""
    found: dict[str, Any] = await console_of(request).backends.get(
        "notifier", "/v1/alerts", session.access_token,
        {"status": "open", "limit": OPEN_ALERTS_SHOWN},
    )  # fmt: skip
    return {"alerts": found["alerts"], "alerts_total": found["total"]}


@router.get("/now")
async def now(request: Request, session: Session = Everyone) -> Response:
    backends = console_of(request).backends
    on_duty, alerts, recent = await asyncio.gather(
        backends.get("notifier", "/v1/rota/on-duty", session.access_token),
        open_alerts(request, session),
        backends.get(
            "notifier", "/v1/alerts", session.access_token, {"status": "acknowledged", "limit": 5}
        ),
    )
    shown = {
        **alerts,
        "may_acknowledge": session.has(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE),
    }
    _, seen = polled_fragment(request, "_alerts.html", shown)
    return render(
        request,
        "now.html",
        {"title": "Now", "on_duty": on_duty, "recent": recent["alerts"], "seen": seen, **shown},
    )


@router.get("/now/alerts")
async def now_alerts(request: Request, seen: str = "", session: Session = Everyone) -> Response:
    """The open-alert list alone, for the page's polling: 204 (htmx swaps nothing) when the list
    the page already shows, by its digest `seen`, is what it would get."""
    text, digest = polled_fragment(
        request,
        "_alerts.html",
        {**await open_alerts(request, session),
         "may_acknowledge": session.has(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE)},
    )  # fmt: skip
    if seen == digest:
        return Response(status_code=204)
    return HTMLResponse(text)


@router.post("/alerts/{alert_id}/acknowledge", dependencies=[CsrfChecked])
async def acknowledge(request: Request, alert_id: str, session: Session = Responder) -> Response:
    await console_of(request).backends.post(
        "notifier", f"/v1/alerts/{alert_id}/acknowledgement", session.access_token
    )
    session.flash.append("Alert acknowledged: calls and messages about it have stopped.")
    return see_other(request, "/now")
