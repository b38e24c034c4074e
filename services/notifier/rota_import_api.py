"""POST /v1/rota/imports: the head of service uploads an iCalendar calendar (text/calendar) and the
notifier makes the leave and cover imported under its source label what the calendar says
(services/notifier/rota_calendar.py has the convention, rota_import.py the use case).

The answer counts what changed and names each event not taken by its UID with a fixed reason:
no title, description or location from the calendar is ever echoed (any of them can hold a
name), in the answer, an error or a log line.

No `from __future__ import annotations`: FastAPI reads the parameter annotations at runtime.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.notifier.deps import NotifierDeps
from services.notifier.rota_calendar import DEFAULT_SOURCE, CalendarUnreadable
from services.notifier.rota_import import ImportSummary, import_calendar
from shared.logging import get_logger
from shared.problems import FieldError, problem_response, problems
from shared.staff_auth import Staff, StaffAuth, StaffRole

log = get_logger(__name__)
CALENDAR_MEDIA_TYPE = "text/calendar"


class EventNotTaken(BaseModel):
    event: str = Field(
        description="The event's UID, or its position in the file when the UID does not look "
        "like a generated identifier."
    )
    reason: str = Field(description="Why, in fixed words: never text from the calendar.")


class ImportResult(BaseModel):
    source: str
    dry_run: bool = Field(description="True: nothing was stored; the counts say what would be.")
    added: int
    updated: int = Field(description="Events moved or changed since the last import.")
    removed: int = Field(description="Events cancelled or deleted since the last import.")
    unchanged: int
    ignored: int = Field(description="Events whose title starts with neither Leave nor Cover.")
    kept_removed: int = Field(
        description="Imported changes removed by hand, left removed while their event is unchanged."
    )
    not_taken: list[EventNotTaken] = Field(
        description="Events not taken; the rota keeps what each had put on it before."
    )


def add_rota_import_route(app: FastAPI, deps: NotifierDeps, staff_auth: StaffAuth) -> None:
    head = staff_auth.require(StaffRole.HEAD_OF_SERVICE)

    @app.post(
        "/v1/rota/imports",
        response_model=ImportResult,
        summary="Import leave and cover from an iCalendar calendar (head of service)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {CALENDAR_MEDIA_TYPE: {"schema": {"type": "string"}}},
            }
        },
        responses=problems(
            {
                415: "The body is not text/calendar",
                422: "The body is not an iCalendar calendar, or source is not a valid label; "
                "nothing was changed",
            }
        ),
    )
    async def import_rota_calendar(
        request: Request,
        who: Annotated[Staff, Depends(head)],
        source: Annotated[
            str,
            Query(
                pattern=r"^[a-z0-9][a-z0-9_-]{0,30}$",
                description="The calendar's label: an import touches only the changes earlier "
                "imports under the same label made.",
            ),
        ] = DEFAULT_SOURCE,
        dry_run: Annotated[bool, Query(description="Count what would change; store none.")] = False,
    ) -> ImportResult | JSONResponse:
        """Events titled "Leave <person id>" or "Cover <person id>", all-day or timed (any time
        zone, converted to London time), recurring ones expanded over the next 60 days; other
        events are ignored. Importing the same calendar again changes nothing; an event moved or
        cancelled updates or removes its change; changes added by hand are never touched. The
        notifier pages from the new rota at once."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != CALENDAR_MEDIA_TYPE:
            return problem_response(415, f"send the calendar as {CALENDAR_MEDIA_TYPE}")
        body = await request.body()
        actor = deps.rota_book.actor(who.person_id, deps.clock.now())
        try:
            summary = await import_calendar(
                deps.rota_book, deps.engine, body, actor, source, dry_run=dry_run
            )
        except CalendarUnreadable as unreadable:
            return problem_response(
                422,
                str(unreadable),
                [FieldError(location="body", message=str(unreadable), type="value_error")],
            )
        log.info(
            "rota_calendar_imported", source=source, dry_run=dry_run, added=summary.added,
            updated=summary.updated, removed=summary.removed, not_taken=len(summary.problems),
        )  # fmt: skip
        return _result(summary)


def _result(summary: ImportSummary) -> ImportResult:
    return ImportResult(
        source=summary.source, dry_run=summary.dry_run, added=summary.added,
        updated=summary.updated, removed=summary.removed, unchanged=summary.unchanged,
        ignored=summary.ignored, kept_removed=summary.kept_removed,
        not_taken=[EventNotTaken(event=p.label, reason=p.message) for p in summary.problems],
    )  # fmt: skip
