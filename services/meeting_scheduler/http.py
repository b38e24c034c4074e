"""Coordinator-facing reads: upcoming meetings and their agendas in every format (no names ever
reach the meeting scheduler, so none can appear here)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.agenda import (
    AgendaItem,
    render_html,
    render_ics,
    render_markdown,
    render_pdf,
)
from services.meeting_scheduler.calendar import MeetingCalendar, MeetingSeries
from services.meeting_scheduler.handlers import items_for
from shared.clock import LONDON, Clock

MEDIA_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "ics": "text/calendar",
}


class MeetingView(BaseModel):
    series_id: str
    title: str
    starts_at: datetime
    cutoff_at: datetime
    items: int
    agenda_url: str
    pdf_url: str


def build_http_app(engine: AsyncEngine, calendar: MeetingCalendar, clock: Clock) -> FastAPI:
    app = FastAPI(title="Safeguarding meeting scheduler", version="1")

    @app.get("/v1/meetings", response_model=list[MeetingView])
    async def upcoming_meetings() -> list[MeetingView]:
        """The next few meetings of every series, with how many items each has."""
        views = []
        for series in calendar.series:
            for starts_at in series.occurrences_after(clock.now()):
                base = f"/v1/meetings/{series.id}/{starts_at.astimezone(LONDON).date().isoformat()}"
                views.append(
                    MeetingView(
                        series_id=series.id,
                        title=series.title,
                        starts_at=starts_at,
                        cutoff_at=series.cutoff_for(starts_at),
                        items=len(await items_for(engine, series.id, starts_at)),
                        agenda_url=f"{base}/agenda.md",
                        pdf_url=f"{base}/agenda.pdf",
                    )
                )
        return sorted(views, key=lambda view: view.starts_at)

    async def meeting(
        series_id: str, day: date
    ) -> tuple[MeetingSeries, datetime, list[AgendaItem]]:
        series = next((item for item in calendar.series if item.id == series_id), None)
        if series is None:
            raise HTTPException(404, "no such meeting series")
        since = datetime.combine(day, datetime.min.time(), tzinfo=LONDON) - timedelta(seconds=1)
        starts = [
            start
            for start in series.occurrences_after(since)
            if start.astimezone(LONDON).date() == day
        ]
        if not starts:
            raise HTTPException(404, "the series has no meeting on that date")
        return series, starts[0], await items_for(engine, series.id, starts[0])

    @app.get(
        "/v1/meetings/{series_id}/{day}/agenda.{fmt}",
        response_class=Response,
        responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
    )
    async def agenda(
        series_id: str, day: date, fmt: Literal["md", "html", "pdf", "ics"]
    ) -> Response:
        """A meeting's agenda (on a London date) as Markdown, HTML or PDF, or its .ics invitation."""
        series, starts_at, items = await meeting(series_id, day)
        filename = f"agenda-{series_id}-{day.isoformat()}.{fmt}"
        if fmt == "html":
            return HTMLResponse(render_html(series, starts_at, items))
        content: str | bytes
        if fmt == "md":
            content = render_markdown(series, starts_at, items)
        elif fmt == "pdf":
            content = render_pdf(series, starts_at, items)
        else:
            content = render_ics(series, starts_at)
        disposition = "attachment" if fmt == "ics" else "inline"
        return Response(
            content,
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
        )

    return app
