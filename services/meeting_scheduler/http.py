"""The coordinator's API: upcoming meetings, agendas in every format (and as JSON for the web
console), publishing an agenda now, and edits (reorder, defer, withdraw, add any other business).
Every request carries the access token of a meeting coordinator or the head of service
(shared/staff_auth.py); a case's place on agendas is also open to advisors. No names ever reach
the meeting scheduler, so none can appear here.

No `from __future__ import annotations`: FastAPI must see the `Coordinator` dependency alias,
defined inside build_http_app, as an object."""

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import staff_actions
from services.meeting_scheduler.agenda import (
    AgendaItem,
    OtherBusiness,
)
from services.meeting_scheduler.agenda_views import (
    AgendaView,
    CaseAgendaEntry,
    PublicationState,
    agenda_view,
    case_agenda_entries,
    current_publication,
)
from services.meeting_scheduler.calendar import MeetingCalendar, MeetingSeries
from services.meeting_scheduler.coordinating import (
    NotOnAgenda,
    add_other_business,
    defer,
    reorder,
    withdraw,
)
from services.meeting_scheduler.documents import agenda_documents, invitation
from services.meeting_scheduler.drawing import drawn
from services.meeting_scheduler.handlers import items_for, other_business_for
from services.meeting_scheduler.minutes import (
    DueOutOfRange,
    NotAnItem,
    mark_done,
    minutes_of,
    record_attendance,
    record_minutes,
)
from services.meeting_scheduler.minutes_api import (
    ActionRecordView,
    AttendanceBody,
    AttendanceView,
    MinutesBody,
    MinutesView,
)
from services.meeting_scheduler.nasn import flag_for_learning
from services.meeting_scheduler.publishing import Publisher
from shared.api_times import UtcTimestamp
from shared.audit import Actor
from shared.clock import LONDON, Clock
from shared.problems import problems
from shared.staff_auth import Staff, StaffAuth, StaffRole, StaffRoute

CASE_REFERENCE = re.compile(r"MS-\d{4}-[A-Z0-9]+", re.IGNORECASE)
PLANNED_AHEAD = timedelta(days=5 * 366)  # the furthest meeting an agenda is asked for
MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "ics": "text/calendar",
}


class Order(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a field we would drop is refused, not ignored

    case_references: Annotated[list[str], Field(min_length=1, max_length=200)]


class Withdrawal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=3, max_length=500)]


class NewBusiness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str, Field(min_length=3, max_length=500, description="No names: the room is multi-agency.")
    ]


class LearningTheme(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: Annotated[
        str,
        Field(
            min_length=3,
            max_length=300,
            description="A theme, not a case: no names, no references.",
        ),
    ]


class MeetingView(BaseModel):
    series_id: str
    title: str
    starts_at: UtcTimestamp
    cutoff_at: UtcTimestamp
    items: int = Field(description="New items at this meeting.")
    reviews: int = Field(description="Open cases carried over from earlier meetings.")
    agenda_url: str
    pdf_url: str


def build_http_app(
    engine: AsyncEngine,
    calendar: MeetingCalendar,
    clock: Clock,
    staff_auth: StaffAuth,
    publisher: Publisher,
) -> FastAPI:
    app = FastAPI(title="Safeguarding meeting scheduler", version="1")
    app.router.route_class = StaffRoute  # sign-in is checked before the body is read
    signed_in = staff_auth.require(StaffRole.MEETING_COORDINATOR, StaffRole.HEAD_OF_SERVICE)
    # A case's agenda history feeds the advisor's case timeline too.
    case_staff = staff_auth.require(
        StaffRole.ADVISOR, StaffRole.HEAD_OF_SERVICE, StaffRole.MEETING_COORDINATOR
    )

    async def coordinator(who: Annotated[Staff, Depends(signed_in)]) -> str:
        return who.person_id

    Coordinator = Annotated[str, Depends(coordinator)]

    def acting(person_id: str) -> Actor:
        return Actor(staff_actions, person_id, clock.now())

    @app.get("/v1/meetings", response_model=list[MeetingView])
    async def upcoming_meetings(who: Coordinator) -> list[MeetingView]:
        """The next few meetings of every series, with how many items each has."""
        views = []
        for series in calendar.series:
            for starts_at in series.occurrences_after(clock.now()):
                base = f"/v1/meetings/{series.id}/{starts_at.astimezone(LONDON).date().isoformat()}"
                listed = await items_for(engine, series.id, starts_at)
                views.append(
                    MeetingView(
                        series_id=series.id,
                        title=series.title,
                        starts_at=starts_at,
                        cutoff_at=series.cutoff_for(starts_at),
                        items=sum(1 for item in listed if not item.review),
                        reviews=sum(1 for item in listed if item.review),
                        agenda_url=f"{base}/agenda.md",
                        pdf_url=f"{base}/agenda.pdf",
                    )
                )
        return sorted(views, key=lambda view: view.starts_at)

    async def meeting(
        series_id: str, day: date
    ) -> tuple[MeetingSeries, datetime, list[AgendaItem], list[OtherBusiness]]:
        series = next((item for item in calendar.series if item.id == series_id), None)
        if series is None:
            raise HTTPException(404, "no such meeting series")
        if day < series.starts.date():  # before the first meeting (and far from year one's edge)
            raise HTTPException(404, "the series has no meeting on that date")
        # Finding a date centuries ahead walked the rule (and its bank holidays) for 10 s and
        # more (found by the contract test's fuzzer): nobody plans a meeting that far ahead.
        if day > clock.now().astimezone(LONDON).date() + PLANNED_AHEAD:
            raise HTTPException(404, "the series has no meeting on that date")
        since = datetime.combine(day, datetime.min.time(), tzinfo=LONDON) - timedelta(seconds=1)
        starts = [
            start
            for start in series.occurrences_after(since)
            if start.astimezone(LONDON).date() == day
        ]
        if not starts:
            raise HTTPException(404, "the series has no meeting on that date")
        return (
            series,
            starts[0],
            await items_for(engine, series.id, starts[0]),
            await other_business_for(engine, series.id, starts[0]),
        )

    # Every route naming a meeting (`meeting` below) answers 404 for a date without one.
    no_meeting = problems({404: "No such meeting series, or the series has no meeting that day"})
    not_an_item = problems({404: "No such meeting, or the case is not a new item of that meeting"})

    @app.get(
        "/v1/meetings/{series_id}/{day}/agenda.{fmt}",
        response_class=Response,
        responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}, **no_meeting},
    )
    async def agenda(
        series_id: str, day: date, fmt: Literal["md", "html", "pdf", "ics"], who: Coordinator
    ) -> Response:
        """A meeting's agenda (on a London date) as Markdown, HTML or PDF, or its .ics invitation."""
        series, starts_at, _, _ = await meeting(series_id, day)
        documents = await agenda_documents(engine, series, starts_at)
        filename = f"agenda-{series_id}-{day.isoformat()}.{fmt}"
        if fmt == "html":
            return HTMLResponse(documents.html())
        content: str | bytes
        if fmt == "md":
            content = documents.markdown
        elif fmt == "pdf":
            content = await drawn(documents.pdf)  # off the event loop (drawing.py)
        else:
            content = invitation(series, starts_at, created_at=clock.now())
        disposition = "attachment" if fmt == "ics" else "inline"
        return Response(
            content,
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
        )

    @app.get(
        "/v1/meetings/{series_id}/{day}/agenda", response_model=AgendaView, responses=no_meeting
    )
    async def agenda_data(series_id: str, day: date, who: Coordinator) -> AgendaView:
        """The agenda as data, sections in the PDF's order, with its publication state."""
        series, starts_at, items, other = await meeting(series_id, day)
        return await agenda_view(engine, series, starts_at, items, other)

    @app.post(
        "/v1/meetings/{series_id}/{day}/publish",
        response_model=PublicationState,
        responses={
            **no_meeting,
            **problems({409: "The meeting has started: too late to publish."}),
        },
    )
    async def publish(series_id: str, day: date, who: Coordinator) -> PublicationState:
        """Send the agenda to its recipients now, as happens by itself at `publish_at`. Unchanged
        since the last version sent: nothing is sent again and that version is returned."""
        series, starts_at, _, _ = await meeting(series_id, day)
        if starts_at <= clock.now():  # as the automatic pass: a past meeting's agenda stays put
            raise HTTPException(409, "the meeting has started: its agenda is no longer published")
        await publisher.publish_now(series.id, starts_at, acting(who))
        return await current_publication(engine, series, starts_at)

    @app.get("/v1/cases/{case_reference}/agenda-items", response_model=list[CaseAgendaEntry])
    async def case_agenda_items(
        case_reference: str, who: Annotated[Staff, Depends(case_staff)]
    ) -> list[CaseAgendaEntry]:
        """Every meeting the case is or was on, oldest first (none for an unknown case)."""
        return await case_agenda_entries(engine, calendar, case_reference, clock.now())

    @app.post("/v1/meetings/{series_id}/{day}/order", status_code=204, responses=not_an_item)
    async def set_order(series_id: str, day: date, body: Order, who: Coordinator) -> None:
        """Put the meeting's new items in this order (those not named follow, by urgency and age)."""
        series, starts_at, _, _ = await meeting(series_id, day)
        try:
            await reorder(engine, series, starts_at, body.case_references, acting(who))
        except NotOnAgenda as missing:
            raise HTTPException(404, f"{missing} is not a new item of that meeting") from None

    @app.post("/v1/meetings/{series_id}/{day}/items/{case_reference}/defer", responses=not_an_item)
    async def defer_item(
        series_id: str, day: date, case_reference: str, who: Coordinator
    ) -> dict[str, UtcTimestamp]:
        """Move the item to the series' next meeting."""
        series, starts_at, _, _ = await meeting(series_id, day)
        try:
            moved = await defer(engine, series, starts_at, case_reference, acting(who))
            return {"meeting_starts_at": moved}
        except NotOnAgenda:
            raise HTTPException(404, "not a new item of that meeting") from None

    @app.post(
        "/v1/meetings/{series_id}/{day}/items/{case_reference}/withdraw",
        status_code=204,
        responses=not_an_item,
    )
    async def withdraw_item(
        series_id: str, day: date, case_reference: str, body: Withdrawal, who: Coordinator
    ) -> None:
        """Take the item off the agenda, with the reason (it does not come back as a review)."""
        series, starts_at, _, _ = await meeting(series_id, day)
        try:
            await withdraw(engine, series, starts_at, case_reference, body.reason, acting(who))
        except NotOnAgenda:
            raise HTTPException(404, "not a new item of that meeting") from None

    @app.post(
        "/v1/meetings/{series_id}/{day}/other-business", status_code=204, responses=no_meeting
    )
    async def add_item(series_id: str, day: date, body: NewBusiness, who: Coordinator) -> None:
        """Add an item by hand, under any other business."""
        series, starts_at, _, _ = await meeting(series_id, day)
        await add_other_business(
            engine, series, starts_at, body.text, who, clock.now(), acting(who)
        )

    @app.put(
        "/v1/meetings/{series_id}/{day}/attendance",
        response_model=AttendanceView,
        responses=no_meeting,
    )
    async def set_attendance(
        series_id: str, day: date, body: AttendanceBody, who: Coordinator
    ) -> AttendanceView:
        """Record who is present and who sent apologies, replacing the meeting's earlier record
        (apologies may come before the meeting). Invited: the series' members; any other
        organisation or role may be listed too."""
        series, starts_at, _, _ = await meeting(series_id, day)
        recorded = await record_attendance(
            engine, series, starts_at, body.present, body.apologies, acting(who)
        )
        return AttendanceView.of(recorded)

    @app.get(
        "/v1/meetings/{series_id}/{day}/minutes", response_model=MinutesView, responses=no_meeting
    )
    async def get_minutes(series_id: str, day: date, who: Coordinator) -> MinutesView:
        """The meeting's attendance, decisions and the actions it raised (with their state)."""
        series, starts_at, _, _ = await meeting(series_id, day)
        return MinutesView.of(series.id, starts_at, await minutes_of(engine, series, starts_at))

    @app.post(
        "/v1/meetings/{series_id}/{day}/minutes",
        response_model=MinutesView,
        status_code=201,
        responses=problems(
            {
                404: "No such meeting, or a case named is not an item of that meeting",
                409: "The meeting has not started: minutes follow it.",
                422: "The request is not valid, or an action is due outside the meeting's date "
                "to a year after it",
            }
        ),
    )
    async def add_minutes(
        series_id: str, day: date, body: MinutesBody, who: Coordinator
    ) -> MinutesView:
        """Add decisions and actions per item (a case on the meeting's agenda, or the meeting as
        a whole). Minutes are added, never rewritten; open actions carry to the series' later
        agendas until marked done. Answers with the meeting's minutes so far."""
        series, starts_at, items, _ = await meeting(series_id, day)
        if starts_at > clock.now():
            raise HTTPException(409, "the meeting has not started: minutes follow it")
        try:
            recorded = await record_minutes(
                engine, series, starts_at, [item.command() for item in body.items],
                frozenset(item.case_reference for item in items), acting(who),
            )  # fmt: skip
        except NotAnItem:
            raise HTTPException(404, "a case named is not an item of that meeting") from None
        except DueOutOfRange:
            raise HTTPException(
                422, "an action is due between the meeting's date and a year after it"
            ) from None
        return MinutesView.of(series.id, starts_at, recorded)

    @app.post(
        "/v1/actions/{action_id}/done",
        response_model=ActionRecordView,
        responses=problems({404: "No such action"}),
    )
    async def action_done(action_id: uuid.UUID, who: Coordinator) -> ActionRecordView:
        """Mark an action done: it no longer carries to later agendas. Again: unchanged."""
        done = await mark_done(engine, str(action_id), acting(who))
        if done is None:
            raise HTTPException(404, "no such action")
        return ActionRecordView.of(done)

    @app.post(
        "/v1/learning-themes",
        status_code=204,
        responses=problems({422: "The request is not valid, or the theme names a case reference"}),
    )
    async def flag_theme(body: LearningTheme, who: Coordinator) -> None:
        """Flag a theme for the NASN's next learning forum (listed without any case)."""
        if CASE_REFERENCE.search(body.theme):
            raise HTTPException(422, "a learning theme may not name a case reference")
        await flag_for_learning(engine, body.theme, who, clock.now())

    return app
