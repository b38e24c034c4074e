"""Leave and cover from a calendar, for the head of service: upload an iCalendar (.ics) file, see
what importing it would change (the notifier's dry run: nothing stored), then apply it. The
calendar waits in the person's server-side session between the two steps (never in the page, a
log or a cookie), so what is applied is exactly what was checked; the notifier's POST
/v1/rota/imports does the work, and never echoes a title, description or location from it."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import Response

from services.console.backends import BackendError
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, render, require, see_other
from shared.staff_auth import StaffRole

router = APIRouter()
Head = Depends(require(StaffRole.HEAD_OF_SERVICE))
PATH = "/head/calendar-import"
MAX_BYTES = 1024 * 1024  # as the notifier's calendar feeds (NOTIFIER_ROTA_CALENDARS)
SOURCE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
DEFAULT_SOURCE = "calendar"


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The import's counts in words, leaving out the zeros (all zeros: nothing would change)."""
    counts = [
        ("added", "added"), ("updated", "changed (moved or edited)"),
        ("removed", "removed (cancelled or deleted)"),
    ]  # fmt: skip
    lines = []
    for key, words in counts:
        number = int(result.get(key, 0))
        if number:
            will = "would be" if result.get("dry_run") else "was" if number == 1 else "were"
            lines.append(f"{number} leave or cover {'entry' if number == 1 else 'entries'} "
                         f"{will} {words}.")  # fmt: skip
    if not lines:
        lines.append("Nothing on the rota would change." if result.get("dry_run")
                     else "Nothing on the rota changed.")  # fmt: skip
    for key, words in (("unchanged", "already on the rota as the calendar says"),
                       ("ignored", "not leave or cover (title starts with neither), ignored"),
                       ("kept_removed", "removed by hand earlier, left removed")):  # fmt: skip
        number = int(result.get(key, 0))
        if number:
            lines.append(f"{number} {'event' if number == 1 else 'events'} {words}.")
    return lines


def upload_page(
    request: Request, *, source: str = DEFAULT_SOURCE, error: str | None = None,
    result: dict[str, Any] | None = None, digest: str = "", status: int = 200,
) -> Response:  # fmt: skip
    return render(
        request,
        "calendar_import.html",
        {"title": "Leave and cover from a calendar", "source": source, "error": error,
         "result": result, "lines": summary_lines(result) if result else [], "digest": digest},
        status,
    )  # fmt: skip


async def _import(
    request: Request, session: Session, calendar: bytes, source: str, *, dry_run: bool
) -> dict[str, Any]:
    result: dict[str, Any] = await console_of(request).backends.post_content(
        "notifier", "/v1/rota/imports", session.access_token, calendar, "text/calendar",
        {"source": source, "dry_run": "true" if dry_run else "false"},
    )  # fmt: skip
    return result


@router.get(PATH)
async def calendar_import(request: Request, session: Session = Head) -> Response:
    return upload_page(request)


@router.post(PATH, dependencies=[CsrfChecked])
async def check_calendar(
    request: Request,
    calendar: UploadFile | None = None,
    source: str = Form(DEFAULT_SOURCE),
    session: Session = Head,
) -> Response:
    source = source.strip() or DEFAULT_SOURCE
    content = await calendar.read(MAX_BYTES + 1) if calendar is not None else b""
    error = None
    if not SOURCE.fullmatch(source):
        error = ("The calendar's name is 1 to 31 lower-case letters, digits, hyphens or "
                 "underscores, for example calendar or team-leave.")  # fmt: skip
    elif not content:
        error = "Choose the calendar file (.ics) to check."
    elif len(content) > MAX_BYTES:
        error = "The file is larger than 1 MB: export a shorter period of the calendar."
    if error:
        return upload_page(request, source=source, error=error, status=422)
    try:
        result = await _import(request, session, content, source, dry_run=True)
    except BackendError as refused:
        if refused.status not in (415, 422):
            raise
        return upload_page(request, source=source, error=_plain(refused.message), status=422)
    digest = hashlib.sha256(content).hexdigest()
    session.pending_calendar = (digest, source, content)
    return upload_page(request, source=source, result=result, digest=digest)


@router.post(f"{PATH}/apply", dependencies=[CsrfChecked])
async def apply_calendar(
    request: Request, digest: str = Form(""), session: Session = Head
) -> Response:
    pending = session.pending_calendar
    if pending is None or not secrets.compare_digest(pending[0], digest):
        return upload_page(
            request, error="That check has expired: choose the calendar file and check it again.",
            status=409,
        )  # fmt: skip
    _, source, content = pending
    try:
        result = await _import(request, session, content, source, dry_run=False)
    except BackendError as refused:
        if refused.status not in (415, 422):
            raise
        return upload_page(request, source=source, error=_plain(refused.message), status=422)
    session.pending_calendar = None
    session.flash.append("Calendar imported. " + " ".join(summary_lines(result)))
    return see_other(request, "/head/rota")


def _plain(message: str) -> str:
    text = re.sub(r"^\(?body\)?:?\s*", "", message)
    return (
        f"The file could not be read as a calendar: {text}"
        if text
        else "The file could not be read as a calendar."
    )
