"""Casework's side of the funder's quarterly report, for the head of service only (other staff:
403): a quarter's figures, and a rebuild that publishes them again with the next version
(services/casework/quarter_reports.py).

No `from __future__ import annotations` here, for the same reason as services/casework/http.py:
FastAPI must see the dependency aliases as objects."""

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path
from pydantic import BaseModel, Field

from services.casework.handlers import CaseworkDeps
from services.casework.quarter_reports import (
    QuarterRefused,
    RebuildClashed,
    check_reportable,
    figures_view,
    publish_quarter,
    published_version,
    quarter_figures,
)
from services.casework.quarters import BadQuarter, Quarter, ReportPolicy, parse_quarter
from shared.events import QuarterCaseworkFigures
from shared.problems import problems
from shared.staff_auth import Staff as SignedIn
from shared.staff_auth import StaffAuth, StaffRole


class QuarterView(BaseModel):
    quarter: str = Field(description="e.g. 2026-27-Q3 (October-December 2026).")
    starts_on: date
    ends_on: date = Field(description="The quarter's last day (inclusive), Europe/London.")
    project_starts: date
    target: int = Field(description="People to support over the project.")
    published_version: int | None = Field(
        description="The latest version published (CaseworkQuarterV1); none yet: null."
    )
    quarter_figures: QuarterCaseworkFigures = Field(
        description="As the event's quarter_figures: raw counts."
    )
    to_date: QuarterCaseworkFigures = Field(
        description="From the project's start to the quarter's end."
    )


QuarterName = Annotated[
    str,
    Path(
        pattern=r"^2[0-9]{3}-[0-9]{2}-Q[1-4]$",
        description="e.g. 2026-27-Q3 (financial year, April start; the two years consecutive)",
    ),
]


def add_quarter_routes(
    app: FastAPI, deps: CaseworkDeps, policy: ReportPolicy, staff_auth: StaffAuth
) -> None:
    HeadOfService = Annotated[SignedIn, Depends(staff_auth.require(StaffRole.HEAD_OF_SERVICE))]

    def quarter_named(name: str) -> Quarter:
        try:
            quarter = parse_quarter(name)
        except BadQuarter as bad:
            raise HTTPException(422, str(bad)) from None
        if not policy.reportable(quarter):
            raise HTTPException(422, f"{quarter.name} ended before the project started")
        return quarter

    refused = problems(
        {
            403: '"not permitted": only the head of service',
            422: "Not a quarter's name (e.g. 2026-27-Q3), or a quarter that ended before the "
            "project started",
        }
    )

    @app.get(
        "/v1/reports/quarters/{quarter}",
        response_model=QuarterView,
        responses={**refused, **problems({409: "The quarter has not started yet"})},
    )
    async def quarter_report(quarter: QuarterName, _: HeadOfService) -> dict[str, Any]:
        """Casework's figures for a financial quarter and the project to its end, as the
        quarterly CaseworkQuarterV1 carries them (raw counts: the report suppresses small
        numbers). The current quarter answers with its figures so far."""
        found = quarter_named(quarter)
        if deps.clock.now() < found.bounds()[0]:
            raise HTTPException(409, f"{found.name} has not started yet")
        in_quarter, to_date = await quarter_figures(deps.engine, found, policy)
        version = await published_version(deps.engine, found)
        return figures_view(found, policy, in_quarter, to_date, version)

    @app.post(
        "/v1/reports/quarters/{quarter}",
        response_model=QuarterView,
        responses={
            **refused,
            **problems(
                {409: "The quarter has not ended yet, or another rebuild of it is under way"}
            ),
        },
    )
    async def rebuild_quarter(quarter: QuarterName, staff: HeadOfService) -> dict[str, Any]:
        """Rebuild a quarter that has ended from casework's data now and publish it again
        (CaseworkQuarterV1 with the next version): the meeting scheduler renders and sends the
        funder's report again."""
        found = quarter_named(quarter)
        try:
            check_reportable(found, policy, deps.clock.now())
            event = await publish_quarter(deps, policy, found, actor=staff.person_id, rebuild=True)
        except (QuarterRefused, RebuildClashed) as clash:
            raise HTTPException(409, str(clash)) from None
        assert event is not None  # a rebuild always publishes
        return figures_view(found, policy, event.quarter_figures, event.to_date, event.version)
