"""A meeting's agenda documents, whatever the kind of meeting: the case panel lists cases, the
NASN learning forum gets anonymised counts for the period since its previous meeting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.agenda import (
    markdown_to_html,
    markdown_to_pdf,
    render_ics,
    render_markdown,
)
from services.meeting_scheduler.calendar import MeetingKind, MeetingSeries
from services.meeting_scheduler.handlers import items_for, other_business_for
from services.meeting_scheduler.nasn import render_nasn_markdown, summarise


@dataclass(frozen=True)
class AgendaDocuments:
    markdown: str
    title: str
    starts_at: datetime

    def html(self) -> str:
        return markdown_to_html(self.title, self.markdown)

    def pdf(self) -> bytes:
        return markdown_to_pdf(self.title, self.starts_at, self.markdown)


async def agenda_documents(
    engine: AsyncEngine, series: MeetingSeries, starts_at: datetime
) -> AgendaDocuments:
    if series.kind is MeetingKind.NASN:
        since = series.previous_before(starts_at) or starts_at - timedelta(days=91)
        markdown = render_nasn_markdown(
            series, starts_at, await summarise(engine, since, starts_at)
        )
    else:
        items = await items_for(engine, series.id, starts_at)
        other = await other_business_for(engine, series.id, starts_at)
        markdown = render_markdown(series, starts_at, items, other)
    return AgendaDocuments(markdown, series.title, starts_at)


def invitation(series: MeetingSeries, starts_at: datetime, version: int = 1) -> bytes:
    return render_ics(series, starts_at, version)
