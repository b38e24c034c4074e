"""The funder's quarterly reports over HTTP, for the head of service only (any other role: 403):
the list of quarters reported, and a quarter's latest version as JSON figures, PDF or CSV. The
figures are as the PDF prints them: counts of 1 or 2 read "<3"; no case reference.

No `from __future__ import annotations`: FastAPI must see the sign-in dependency, made inside
add_report_routes, as an object."""

from datetime import date
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.funder_report import CSV_HEADER
from services.meeting_scheduler.funder_reporting import (
    StoredReport,
    file_stem,
    latest_report,
    list_reports,
)
from shared.api_times import UtcTimestamp
from shared.problems import problems
from shared.staff_auth import Staff, StaffAuth, StaffRole

QUARTER_PATTERN = r"^\d{4}-\d{2}-Q[1-4]$"
Quarter = Annotated[
    str, Path(pattern=QUARTER_PATTERN, description="e.g. 2026-27-Q3 (October-December 2026)")
]


class ReportSummary(BaseModel):
    quarter: str
    version: int = Field(description="The latest version (a rebuild publishes a higher one).")
    published_at: UtcTimestamp
    pdf_url: str
    csv_url: str


class FigureView(BaseModel):
    section: str
    figure: str
    quarter: str = Field(description='As printed: "<3" for 1 or 2, "" where not applicable.')
    project_to_date: str


class ReportView(BaseModel):
    quarter: str
    version: int
    starts_on: date
    ends_on: date = Field(description="The quarter's last day.")
    published_at: UtcTimestamp
    columns: list[str] = Field(description="The CSV's columns, in order.")
    figures: list[FigureView]


def _urls(quarter: str) -> tuple[str, str]:
    base = f"/v1/reports/quarterly/{quarter}"
    return f"{base}/report.pdf", f"{base}/report.csv"


def add_report_routes(app: FastAPI, engine: AsyncEngine, staff_auth: StaffAuth) -> None:
    head_of_service = staff_auth.require(StaffRole.HEAD_OF_SERVICE)
    Head = Annotated[Staff, Depends(head_of_service)]
    unknown = problems({404: "No report for that quarter yet"})

    async def report(quarter: str) -> StoredReport:
        found = await latest_report(engine, quarter)
        if found is None:
            raise HTTPException(404, "no report for that quarter yet")
        return found

    @app.get("/v1/reports/quarterly", response_model=list[ReportSummary])
    async def quarterly_reports(who: Head) -> list[ReportSummary]:
        """Every quarter reported to the funder, newest first, with its latest version."""
        return [
            ReportSummary(
                quarter=quarter,
                version=version,
                published_at=published_at,
                pdf_url=_urls(quarter)[0],
                csv_url=_urls(quarter)[1],
            )
            for quarter, version, published_at in await list_reports(engine)
        ]

    @app.get("/v1/reports/quarterly/{quarter}", response_model=ReportView, responses=unknown)
    async def quarterly_report(quarter: Quarter, who: Head) -> ReportView:
        """The quarter's figures (latest version), small numbers suppressed, in the PDF's order."""
        found = await report(quarter)
        return ReportView(
            quarter=found.quarter, version=found.version,
            starts_on=found.starts_on, ends_on=found.ends_on,
            published_at=found.published_at, columns=list(CSV_HEADER),
            figures=[
                FigureView(
                    section=row.section, figure=row.figure, quarter=row.quarter,
                    project_to_date=row.project_to_date,
                )
                for row in found.figures
            ],
        )  # fmt: skip

    @app.get(
        "/v1/reports/quarterly/{quarter}/report.pdf",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}, **unknown},
    )
    async def quarterly_report_pdf(quarter: Quarter, who: Head) -> Response:
        """The quarter's report as sent to the head of service (latest version)."""
        found = await report(quarter)
        name = file_stem(found.quarter, found.version)
        return Response(
            found.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}.pdf"'},
        )

    @app.get(
        "/v1/reports/quarterly/{quarter}/report.csv",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}, **unknown},
    )
    async def quarterly_report_csv(quarter: Quarter, who: Head) -> Response:
        """The quarter's figures as CSV: section, figure, quarter, project_to_date."""
        found = await report(quarter)
        name = file_stem(found.quarter, found.version)
        return Response(
            found.csv,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
