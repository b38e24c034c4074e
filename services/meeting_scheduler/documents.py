"""A meeting's agenda documents, whatever the kind of meeting: the case panel lists cases, the
NASN learning forum gets anonymised counts for the period since its previous meeting. Both carry
the meeting's attendance register, the actions still open from earlier meetings, and which
version of the agenda they are."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.agenda import case_panel_layout, render_ics
from services.meeting_scheduler.calendar import MeetingKind, MeetingSeries
from services.meeting_scheduler.handlers import items_for, other_business_for
from services.meeting_scheduler.layout import DRAFT, Layout, Revision
from services.meeting_scheduler.minutes import attendance_for, open_actions_before
from services.meeting_scheduler.nasn import nasn_layout, summarise
from services.meeting_scheduler.operations import debriefs_for
from services.meeting_scheduler.printing import to_html, to_markdown, to_pdf
from shared.sqlite_driver import on_database_thread


@dataclass(frozen=True)
class AgendaDocuments:
    """The agenda at one revision. `markdown` is what publication digests: the published
    version's text, rebuilt unchanged, gives the digest recorded when it was sent, so an
    unchanged agenda reads as that version and a changed one as a draft."""

    layout_at: Callable[[Revision], Layout]
    revision: Revision = DRAFT

    @property
    def layout(self) -> Layout:
        return self.layout_at(self.revision)

    @property
    def title(self) -> str:
        return self.layout.title

    @property
    def markdown(self) -> str:
        return to_markdown(self.layout)

    def html(self) -> str:
        return to_html(self.layout)

    def pdf(self) -> bytes:
        return to_pdf(self.layout)

    def as_version(self, version: int, sent_at: datetime) -> AgendaDocuments:
        return replace(self, revision=Revision(version, sent_at))


@on_database_thread  # every read an agenda needs: on SQLite it must not hold the loop
async def agenda_documents(
    engine: AsyncEngine, series: MeetingSeries, starts_at: datetime
) -> AgendaDocuments:
    attendance = await attendance_for(engine, series, starts_at)
    actions = await open_actions_before(engine, series, starts_at)
    other = await other_business_for(engine, series.id, starts_at)
    if series.kind is MeetingKind.NASN:
        since = series.previous_before(starts_at) or starts_at - timedelta(days=91)
        summary = await summarise(engine, since, starts_at)

        def layout_at(revision: Revision) -> Layout:
            return nasn_layout(
                series, starts_at, summary, attendance=attendance, actions=actions, other=other,
                revision=revision,
            )  # fmt: skip
    else:
        items = await items_for(engine, series.id, starts_at)
        debriefs = await debriefs_for(engine, series.id, starts_at)

        def layout_at(revision: Revision) -> Layout:
            return case_panel_layout(
                series, starts_at, items, other, attendance=attendance, actions=actions,
                revision=revision, debriefs=debriefs,
            )  # fmt: skip

    return await _as_published(engine, AgendaDocuments(layout_at), series, starts_at)


async def _as_published(
    engine: AsyncEngine, documents: AgendaDocuments, series: MeetingSeries, starts_at: datetime
) -> AgendaDocuments:
    """The documents as the latest version sent, if their text is that version's; otherwise a
    draft (saying which version it changes)."""
    # Here, not at the top: publishing.py imports this module to publish what it builds.
    from services.meeting_scheduler.publishing import digest_of, latest_publication

    async with engine.connect() as connection:
        latest = await latest_publication(connection, series.id, starts_at)
    if latest is None:
        return documents
    sent = documents.as_version(latest.version, latest.published_at)
    if digest_of(sent.markdown) == latest.digest:
        return sent
    return replace(documents, revision=Revision(latest.version, latest.published_at, changed=True))


def invitation(
    series: MeetingSeries, starts_at: datetime, version: int = 1, *, created_at: datetime
) -> bytes:
    return render_ics(series, starts_at, version, created_at=created_at)
