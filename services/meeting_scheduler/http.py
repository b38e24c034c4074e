"""Coordinator-facing reads: upcoming meetings and their agendas (no names ever reach here)."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.agenda import render_markdown
from services.meeting_scheduler.calendar import MeetingCalendar
from services.meeting_scheduler.handlers import items_for
from shared.clock import LONDON, Clock


class MeetingView(BaseModel):
    series_id: str
    title: str
    starts_at: datetime
    cutoff_at: datetime
    items: int
    agenda_url: str


def build_http_app(engine: AsyncEngine, calendar: MeetingCalendar, clock: Clock) -> FastAPI:
    app = FastAPI(title="Safeguarding meeting scheduler", version="1")

    @app.get("/v1/meetings", response_model=list[MeetingView])
    async def upcoming_meetings() -> list[MeetingView]:
        """The next few meetings of every series, with how many items each has."""
        views = []
        for series in calendar.series:
            for starts_at in series.occurrences_after(clock.now()):
                local_day = starts_at.astimezone(LONDON).date()
                views.append(
                    MeetingView(
                        series_id=series.id,
                        title=series.title,
                        starts_at=starts_at,
                        cutoff_at=series.cutoff_for(starts_at),
                        items=len(await items_for(engine, series.id, starts_at)),
                        agenda_url=f"/v1/meetings/{series.id}/{local_day.isoformat()}/agenda.md",
                    )
                )
        return sorted(views, key=lambda view: view.starts_at)

    @app.get("/v1/meetings/{series_id}/{day}/agenda.md", response_class=PlainTextResponse)
    async def agenda_markdown(series_id: str, day: date) -> str:
        """The agenda of a series' meeting on a (London) date, as Markdown."""
        series = next((item for item in calendar.series if item.id == series_id), None)
        if series is None:
            raise HTTPException(404, "no such meeting series")
        since = datetime.combine(day, datetime.min.time(), tzinfo=LONDON)
        starts = [
            start
            for start in series.occurrences_after(since)
            if start.astimezone(LONDON).date() == day
        ]
        if not starts:
            raise HTTPException(404, "the series has no meeting on that date")
        return render_markdown(series, starts[0], await items_for(engine, series.id, starts[0]))

    return app
