"""The funder's quarterly reports, for the head of service: every quarter reported with its
latest version, a quarter's figures as the PDF prints them (counts of 1 or 2 read "<3"), the PDF
and CSV to download, and a rebuild that has casework publish the quarter again from its data now
(the meeting scheduler renders the next version and e-mails it, as at a quarter's end).

The meeting scheduler holds the rendered reports (GET /v1/reports/quarterly…) and casework the
figures behind them (POST /v1/reports/quarters/{quarter} rebuilds); both allow the head of
service only, and the console asks the same role first. No figure here is about a person."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.console.backends import BackendError
from services.console.sessions import Session
from services.console.web import CsrfChecked, console_of, render, require, see_other
from shared.staff_auth import StaffRole

router = APIRouter()
Head = Depends(require(StaffRole.HEAD_OF_SERVICE))
REPORTS = "/v1/reports/quarterly"
# As the two services' path patterns: a quarter's name is all that goes into their paths.
QUARTER = re.compile(r"^2[0-9]{3}-[0-9]{2}-Q[1-4]$")


def by_section(figures: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """The report's rows grouped under their sections, in the PDF's order."""
    sections: list[tuple[str, list[Mapping[str, Any]]]] = []
    for row in figures:
        if not sections or sections[-1][0] != row["section"]:
            sections.append((row["section"], []))
        sections[-1][1].append(row)
    return sections


async def reports_page(
    request: Request, session: Session, error: str | None = None, typed: str = "",
    status: int = 200,
) -> Response:  # fmt: skip
    found = await console_of(request).backends.get("meetings", REPORTS, session.access_token)
    return render(
        request, "funder_reports.html",
        {"title": "Funder's reports", "reports": found, "error": error, "typed": typed},
        status,
    )  # fmt: skip


@router.get("/reports")
async def reports(request: Request, session: Session = Head) -> Response:
    return await reports_page(request, session)


@router.get("/reports/{quarter}")
async def report(request: Request, quarter: str, session: Session = Head) -> Response:
    if not QUARTER.fullmatch(quarter):
        raise BackendError("meetings", 404, "No report for that quarter.")
    found = await console_of(request).backends.get(
        "meetings", f"{REPORTS}/{quarter}", session.access_token
    )
    return render(
        request, "funder_report.html",
        {"title": f"Funder's report {quarter}", "report": found,
         "sections": by_section(found["figures"])},
    )  # fmt: skip


@router.get("/reports/{quarter}/report.{fmt}")
async def download(
    request: Request, quarter: str, fmt: Literal["pdf", "csv"], session: Session = Head
) -> Response:
    if not QUARTER.fullmatch(quarter):
        raise BackendError("meetings", 404, "No report for that quarter.")
    document = await console_of(request).backends.download(
        "meetings", f"{REPORTS}/{quarter}/report.{fmt}", session.access_token
    )
    headers = {"Cache-Control": "no-store"}
    if document.disposition:
        headers["Content-Disposition"] = document.disposition
    return Response(document.content, media_type=document.media_type, headers=headers)


@router.post("/reports/rebuild", dependencies=[CsrfChecked])
async def rebuild(request: Request, quarter: str = Form(""), session: Session = Head) -> Response:
    """Casework publishes the quarter again with the next version; the scheduler's rendering
    follows within seconds, so the page says what was asked rather than waiting for it."""
    name = quarter.strip()
    if not QUARTER.fullmatch(name):
        return await reports_page(
            request, session, "Enter a quarter's name such as 2026-27-Q2 (financial year, "
            "April start).", name, 422,
        )  # fmt: skip
    try:
        done = await console_of(request).backends.post(
            "casework", f"/v1/reports/quarters/{name}", session.access_token
        )
    except BackendError as refused:
        if refused.status not in (409, 422):
            raise
        message = refused.message[:1].upper() + refused.message[1:].rstrip(".") + "."
        return await reports_page(request, session, message, name, refused.status)
    session.flash.append(
        f"{name} rebuilt from casework's data as version {done['published_version']}. The "
        "report below shows it once the meeting scheduler has rendered it, and it is e-mailed "
        "to you."
    )
    return see_other(request, "/reports")
