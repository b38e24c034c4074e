"""The notifier's API for the staff console (services/console/ talks to the notifier only through
it, with the signed-in person's access token): alerts and acknowledging them, who is on duty, the
rota day by day, and leave and cover added and removed by the head of service.

Every answer holds case references, urgencies, kinds, times and staff person ids only: no victim's
personal data reaches the notifier, so none can leave it here. Refusals follow shared/staff_auth.py
(401 "sign-in required", 403 "not permitted").

No `from __future__ import annotations`: FastAPI reads the parameter annotations at runtime.
"""

import asyncio
from datetime import date, datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notifier.acknowledging import AckRefused, acknowledge
from services.notifier.adapters.tables import alerts
from services.notifier.alert_views import StatusFilter, list_alerts
from services.notifier.deps import NotifierDeps
from services.notifier.rota_book import KEPT_AFTER_END, RotaBook
from services.notifier.rota_changes import (
    FURTHEST_AHEAD,
    ChangeKind,
    ChangeRefused,
    RotaChange,
    as_london,
    london_wall_clock,
)
from services.notifier.rota_views import Duty, days_view, now_and_next
from shared.api_times import UtcTimestamp
from shared.clock import LONDON
from shared.problems import FieldError, problem_response, problems
from shared.staff_auth import Staff, StaffAuth, StaffRole

CASE_REFERENCE = r"^MS-\d{4}-[A-Z0-9]{4,12}$"  # shared.events.CaseReference
MAX_DAYS = 62
MAX_ROW_ID = 2**63 - 1  # a larger id overflowed the database's integer: a 500 (schemathesis)


class AlertItem(BaseModel):
    alert_id: str
    kind: str = Field(
        description="referral, child_referral, grouped, reminder, booking_reminder, "
        "referral_follow_up, agenda, rota_gap, training_pace, operation_warning, operation_reminder, "
        "funder_report"
    )
    case_reference: str | None = Field(description="The case; None for a grouped alert.")
    case_references: list[str] = Field(description="Every case the alert is about (a raid's too).")
    urgency: str
    status: Literal["open", "acknowledged"]
    raised_at: UtcTimestamp
    acknowledged_at: UtcTimestamp | None
    acknowledged_by: str | None = Field(description="Person id of who acknowledged it.")
    steps_fired: int = Field(description="Escalation steps done so far (the first page is one).")
    paged_person_ids: list[str] = Field(description="Everyone sent a message so far, distinct.")
    next_step_at: UtcTimestamp | None = Field(description="When the next escalation step is due.")


class AlertList(BaseModel):
    alerts: list[AlertItem]
    total: int = Field(
        description="How many alerts match in all; more than listed when the limit cut the list."
    )


class Acknowledged(BaseModel):
    alert_id: str
    status: Literal["acknowledged"] = "acknowledged"
    acknowledged_by: str
    acknowledged_at: UtcTimestamp
    already_acknowledged: bool = Field(description="True when this person had acknowledged it.")


class DutyView(BaseModel):
    person_id: str = Field(description="Who is paged (the last resort in a gap).")
    role: str
    gap: bool = Field(description="No shift or cover holds this time: the last resort is paged.")
    shift_start: UtcTimestamp | None = Field(description="None: began more than 7 days before.")
    shift_end: UtcTimestamp | None = Field(description="None: lasts beyond the next 14 days.")


class OnDuty(BaseModel):
    at: UtcTimestamp
    on_duty: DutyView
    next: DutyView | None = Field(description="The next change of duty within 14 days, if any.")
    last_resort: str


class PeriodView(BaseModel):
    start: UtcTimestamp
    end: UtcTimestamp
    person_id: str | None = Field(description="None: a gap, the last resort is paged.")
    role: str | None


class GapView(BaseModel):
    start: UtcTimestamp
    end: UtcTimestamp


class ChangeView(BaseModel):
    id: int | None = Field(description="None: from the rota file (not removable here).")
    source: Literal["console", "file", "calendar"] = Field(
        description="console: added by hand; calendar: imported (POST /v1/rota/imports); "
        "file: the rota file."
    )
    kind: Literal["leave", "cover"]
    person_id: str
    starts_at: UtcTimestamp = Field(description="In UTC, as every API time (shown in London time).")
    ends_at: UtcTimestamp
    created_by: str | None = None
    created_at: UtcTimestamp | None = None


class DayRota(BaseModel):
    date: date
    periods: list[PeriodView]
    gaps: list[GapView]
    changes: list[ChangeView] = Field(description="Leave and cover in force on the day.")


class RotaDays(BaseModel):
    start: date
    last_resort: str
    days: list[DayRota]


class ChangeList(BaseModel):
    changes: list[ChangeView]


class NewChange(BaseModel):
    """Times as RFC 3339 with an offset, or without one as London wall-clock time (the rota
    file's rule), on the quarter hour; the end is exclusive."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["leave", "cover"]
    person_id: Annotated[str, Field(min_length=1, max_length=64)]
    starts_at: datetime
    ends_at: datetime


def add_console_routes(app: FastAPI, deps: NotifierDeps, staff_auth: StaffAuth) -> None:
    # "Now" is for everyone on the staff side; acknowledging is for those who respond to alerts.
    anyone = staff_auth.require(
        StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE, StaffRole.MEETING_COORDINATOR
    )
    responders = staff_auth.require(StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE)
    head = staff_auth.require(StaffRole.HEAD_OF_SERVICE)
    book: RotaBook = deps.rota_book

    @app.get("/v1/alerts", response_model=AlertList, summary="Alerts, newest first")
    async def alert_list(
        who: Annotated[Staff, Depends(anyone)],
        status: StatusFilter = "open",
        case_reference: Annotated[str | None, Query(pattern=CASE_REFERENCE)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> AlertList:
        found = await list_alerts(deps.engine, status, case_reference, limit)
        return AlertList(
            total=found.total,
            alerts=[
                AlertItem(
                    alert_id=a.alert_id, kind=a.kind, case_reference=a.case_reference,
                    case_references=list(a.case_references), urgency=a.urgency,
                    status="acknowledged" if a.status == "acknowledged" else "open",
                    raised_at=a.raised_at, acknowledged_at=a.acknowledged_at,
                    acknowledged_by=a.acknowledged_by, steps_fired=a.steps_fired,
                    paged_person_ids=list(a.paged_person_ids), next_step_at=a.next_step_at,
                )
                for a in found.alerts
            ]
        )  # fmt: skip

    @app.post(
        "/v1/alerts/{alert_id}/acknowledgement",
        response_model=Acknowledged,
        summary="Acknowledge an alert as the signed-in person",
        responses=problems({404: "No such alert",
                            409: "Someone else acknowledged it already"}),
    )  # fmt: skip
    async def acknowledge_alert(
        alert_id: Annotated[str, Path(max_length=64)],
        who: Annotated[Staff, Depends(responders)],
    ) -> Acknowledged:
        """Stops the escalation exactly as a code or link does (services/notifier/acknowledging).
        Any advisor or the head of service may acknowledge, not only someone already paged: the
        sign-in proves who they are (a code or link only proves it reached a phone), and whoever
        sees an alert first on the console taking it is the point of the service: an advisor on
        a call, or a backup not yet paged, must not wait for the next step. The event names who
        took it, so casework assigns the tasks to them. Acknowledging again is answered as done."""
        try:
            result = await acknowledge(deps, alert_id, who.person_id, via="console")
        except AckRefused as refused:
            if refused.reason != "closed":
                raise HTTPException(404, "no such alert") from None
            raise HTTPException(409, await _closed_message(deps, alert_id)) from None
        return Acknowledged(
            alert_id=result.alert_id, acknowledged_by=result.acknowledged_by,
            acknowledged_at=result.acknowledged_at, already_acknowledged=result.already,
        )  # fmt: skip

    @app.get("/v1/rota/on-duty", response_model=OnDuty, summary="Who is paged now, and next")
    async def on_duty_now(who: Annotated[Staff, Depends(anyone)]) -> OnDuty:
        now = deps.clock.now()
        rota = await book.refresh(now)
        # Sampling the rota takes a few tens of milliseconds: off the loop that pages.
        current, following = await asyncio.to_thread(now_and_next, rota, now)
        return OnDuty(
            at=now,
            on_duty=_duty_view(current),
            next=_duty_view(following) if following else None,
            last_resort=rota.last_resort,
        )

    @app.get(
        "/v1/rota",
        response_model=RotaDays,
        summary="The rota day by day, with its gaps",
        responses=problems(
            {422: "The request is not valid, or start is further back or ahead than kept"}
        ),
    )
    async def rota_days(
        who: Annotated[Staff, Depends(anyone)],
        start: Annotated[date | None, Query(description="London date; default today")] = None,
        days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 14,
    ) -> RotaDays | JSONResponse:
        now = deps.clock.now()
        today = now.astimezone(LONDON).date()
        first = start or today
        earliest = today - KEPT_AFTER_END
        if not earliest <= first <= today + FURTHEST_AHEAD:
            return _invalid(
                "query.start", f"start must be from {earliest} to {today + FURTHEST_AHEAD}"
            )
        rota = await book.refresh(now)
        views = await asyncio.to_thread(
            days_view, rota, first, days, book.changes, book.file_rota.overrides
        )
        stored = {change.id: change for change in book.changes}
        return RotaDays(
            start=first,
            last_resort=rota.last_resort,
            days=[
                DayRota(
                    date=view.day,
                    periods=[
                        PeriodView(
                            start=p.start.astimezone(LONDON), end=p.end.astimezone(LONDON),
                            person_id=p.person.id if p.person else None,
                            role=p.person.role.value if p.person else None,
                        )
                        for p in view.periods
                    ],
                    gaps=[GapView(start=a.astimezone(LONDON), end=b.astimezone(LONDON))
                          for a, b in view.gaps],
                    changes=[
                        _change_view(stored[c.id]) if c.id is not None else ChangeView(
                            id=None, source="file", kind=_kind(c.kind), person_id=c.person_id,
                            starts_at=c.starts_at, ends_at=c.ends_at,
                        )
                        for c in view.changes
                    ],
                )
                for view in views
            ],
        )  # fmt: skip

    @app.get("/v1/rota/changes", response_model=ChangeList, summary="Leave and cover stored here")
    async def change_list(
        who: Annotated[Staff, Depends(anyone)], include_past: bool = False
    ) -> ChangeList:
        """Not yet over, by default; `include_past` adds those over in the last 31 days."""
        now = deps.clock.now()
        await book.refresh(now)
        local_now = london_wall_clock(now)
        return ChangeList(
            changes=[
                _change_view(change)
                for change in book.changes
                if include_past or change.ends > local_now
            ]
        )

    @app.post(
        "/v1/rota/changes",
        response_model=ChangeView,
        status_code=201,
        summary="Add leave or cover (head of service)",
        responses=problems(
            {
                409: "It clashes with leave or cover already on the rota",
                422: "The request is not valid, or the change is not one the rota can take "
                "(person_id nobody on the rota, times off the quarter hour, the end before the "
                "start, too far ahead)",
            }
        ),
    )
    async def add_change(
        body: NewChange, who: Annotated[Staff, Depends(head)]
    ) -> ChangeView | JSONResponse:
        """The notifier pages from the new rota from its clock's next pass (within
        NOTIFIER_DISPATCH_POLL_SECONDS), in every notifier process."""
        actor = book.actor(who.person_id, deps.clock.now())
        try:
            change = await book.add(
                actor, body.kind, body.person_id,
                london_wall_clock(body.starts_at), london_wall_clock(body.ends_at),
            )  # fmt: skip
        except ChangeRefused as refused:
            if refused.conflict:
                raise HTTPException(409, str(refused)) from None
            return _invalid("body", str(refused))
        return _change_view(change)

    @app.delete(
        "/v1/rota/changes/{change_id}",
        status_code=204,
        summary="Remove leave or cover added here (head of service)",
        responses=problems({404: "No such change, or removed already"}),
    )
    async def remove_change(
        change_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], who: Annotated[Staff, Depends(head)]
    ) -> Response:
        try:
            await book.remove(book.actor(who.person_id, deps.clock.now()), change_id)
        except ChangeRefused:
            raise HTTPException(404, "no such rota change") from None
        return Response(status_code=204)


async def _closed_message(deps: NotifierDeps, alert_id: str) -> str:
    async with deps.engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(alerts.c.acknowledged_by, alerts.c.acknowledged_at).where(
                    alerts.c.alert_id == alert_id
                )
            )
        ).one()
    when = row.acknowledged_at.astimezone(LONDON) if row.acknowledged_at else None
    at = f" at {when:%H:%M on %d %b}" if when else ""
    return f"already acknowledged by {row.acknowledged_by}{at}"


def _duty_view(duty: Duty) -> DutyView:
    return DutyView(
        person_id=duty.person.id, role=duty.person.role.value, gap=duty.gap,
        shift_start=duty.start, shift_end=duty.end,
    )  # fmt: skip


def _change_view(change: RotaChange) -> ChangeView:
    return ChangeView(
        id=change.id, source="calendar" if change.source else "console", kind=change.kind,
        person_id=change.person_id,
        starts_at=as_london(change.starts), ends_at=as_london(change.ends),
        created_by=change.created_by, created_at=change.created_at,
    )  # fmt: skip


def _kind(kind: str) -> ChangeKind:
    return "cover" if kind == "cover" else "leave"


def _invalid(location: str, message: str) -> JSONResponse:
    """The same shape as any other 422 (shared/problems.py), the one reason also as its detail."""
    return problem_response(
        422, message, [FieldError(location=location, message=message, type="value_error")]
    )
