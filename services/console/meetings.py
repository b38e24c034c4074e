"""The coordinator's pages: upcoming case-panel and NASN meetings, and a meeting's agenda with
its items to reorder, defer or withdraw, any other business to add, learning themes to flag, the
agenda to publish, and the PDF and .ics to download. Every change is the meeting scheduler's
API call; its order is the PDF's order (both come from the same code there)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.console.backends import BackendError
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, render, require, see_other
from shared.staff_auth import StaffRole

router = APIRouter()
Coordinator = Depends(require(StaffRole.MEETING_COORDINATOR, StaffRole.HEAD_OF_SERVICE))


def meeting_path(series_id: str, day: date) -> str:
    return f"/meetings/{series_id}/{day.isoformat()}"


@router.get("/meetings")
async def meetings(request: Request, session: Session = Coordinator) -> Response:
    upcoming = await console_of(request).backends.get(
        "meetings", "/v1/meetings", session.access_token
    )
    return render(request, "meetings.html", {"title": "Meetings", "meetings": upcoming})


async def agenda_page(
    request: Request, session: Session, series_id: str, day: date,
    error: str | None = None, status: int = 200,
) -> Response:  # fmt: skip
    agenda = await console_of(request).backends.get(
        "meetings", f"/v1/meetings/{series_id}/{day.isoformat()}/agenda", session.access_token
    )
    return render(
        request,
        "agenda.html",
        {"title": f"{agenda['title']}, {day:%d %B %Y}", "agenda": agenda, "error": error,
         "base": meeting_path(series_id, day), "day": day},
        status,
    )  # fmt: skip


@router.get("/meetings/{series_id}/{day}")
async def agenda(
    request: Request, series_id: str, day: date, session: Session = Coordinator
) -> Response:
    return await agenda_page(request, session, series_id, day)


async def _change(
    request: Request, session: Session, series_id: str, day: date, path: str,
    body: dict[str, Any] | None, done: str,
) -> Response:  # fmt: skip
    try:
        await console_of(request).backends.post(
            "meetings", f"/v1/meetings/{series_id}/{day.isoformat()}{path}", session.access_token,
            body,
        )  # fmt: skip
    except BackendError as refused:
        if refused.status not in (404, 409, 422):
            raise
        return await agenda_page(request, session, series_id, day, refused.message, refused.status)
    session.flash.append(done)
    return see_other(request, meeting_path(series_id, day))


@router.post("/meetings/{series_id}/{day}/move", dependencies=[CsrfChecked])
async def move(
    request: Request,
    series_id: str,
    day: date,
    case_reference: str = Form(),
    direction: Literal["up", "down"] = Form(),
    session: Session = Coordinator,
) -> Response:
    """Up or down one place: the whole new order goes to the scheduler, so two coordinators'
    moves cannot interleave into an order neither chose (the later one wins, whole)."""
    current = await console_of(request).backends.get(
        "meetings", f"/v1/meetings/{series_id}/{day.isoformat()}/agenda", session.access_token
    )
    order = [item["case_reference"] for item in current["new_items"]]
    if case_reference not in order:
        return await agenda_page(
            request, session, series_id, day, "That case is not a new item of this meeting.", 404
        )
    index = order.index(case_reference)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(order):
        order[index], order[target] = order[target], order[index]
    return await _change(
        request, session, series_id, day, "/order", {"case_references": order},
        f"{case_reference} moved {direction}.",
    )  # fmt: skip


@router.post("/meetings/{series_id}/{day}/items/{case}/defer", dependencies=[CsrfChecked])
async def defer(
    request: Request, series_id: str, day: date, case: str, session: Session = Coordinator
) -> Response:
    return await _change(
        request, session, series_id, day, f"/items/{case}/defer", None,
        f"{case} deferred to the next meeting.",
    )  # fmt: skip


@router.post("/meetings/{series_id}/{day}/items/{case}/withdraw", dependencies=[CsrfChecked])
async def withdraw(
    request: Request, series_id: str, day: date, case: str, reason: str = Form(""),
    session: Session = Coordinator,
) -> Response:  # fmt: skip
    return await _change(
        request, session, series_id, day, f"/items/{case}/withdraw", {"reason": reason.strip()},
        f"{case} withdrawn.",
    )  # fmt: skip


@router.post("/meetings/{series_id}/{day}/other-business", dependencies=[CsrfChecked])
async def other_business(
    request: Request, series_id: str, day: date, text: str = Form(""),
    session: Session = Coordinator,
) -> Response:  # fmt: skip
    return await _change(
        request, session, series_id, day, "/other-business", {"text": text.strip()},
        "Added under any other business.",
    )  # fmt: skip


@router.post("/meetings/{series_id}/{day}/publish", dependencies=[CsrfChecked])
async def publish(
    request: Request, series_id: str, day: date, session: Session = Coordinator
) -> Response:
    return await _change(request, session, series_id, day, "/publish", None, "Agenda published.")


@router.post("/meetings/{series_id}/{day}/learning-theme", dependencies=[CsrfChecked])
async def learning_theme(
    request: Request, series_id: str, day: date, theme: str = Form(""),
    session: Session = Coordinator,
) -> Response:  # fmt: skip
    try:
        await console_of(request).backends.post(
            "meetings", "/v1/learning-themes", session.access_token, {"theme": theme.strip()}
        )
    except BackendError as refused:
        if refused.status != 422:
            raise
        return await agenda_page(request, session, series_id, day, refused.message, 422)
    session.flash.append("Learning theme flagged for the next NASN learning forum.")
    return see_other(request, meeting_path(series_id, day))


@router.get("/meetings/{series_id}/{day}/agenda.{fmt}")
async def download(
    request: Request, series_id: str, day: date, fmt: Literal["pdf", "ics"],
    session: Session = Coordinator,
) -> Response:  # fmt: skip
    document = await console_of(request).backends.download(
        "meetings", f"/v1/meetings/{series_id}/{day.isoformat()}/agenda.{fmt}",
        session.access_token,
    )  # fmt: skip
    headers = {"Cache-Control": "no-store"}
    if document.disposition:
        headers["Content-Disposition"] = document.disposition
    return Response(document.content, media_type=document.media_type, headers=headers)
