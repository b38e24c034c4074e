"""Publishing agendas: a configured time before each meeting, the agenda goes to the coordinator
(AgendaPublishedV1 with the PDF, the .ics invitation and the Markdown attached; the notifier
emails it). A change after publication is published again as a revised version.

The coordinator may also publish at once (`Publisher.publish_now`, behind POST .../publish), by the
same path: publishing an unchanged agenda again is a no-op, so the button is safe to press twice."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.meeting_scheduler.adapters.tables import agenda_publications, outbox
from services.meeting_scheduler.calendar import MeetingCalendar
from services.meeting_scheduler.documents import agenda_documents, invitation
from services.meeting_scheduler.drawing import drawn
from services.meeting_scheduler.handlers import PRODUCER
from shared.audit import Actor
from shared.clock import LONDON, Clock
from shared.events import AgendaAttachment, AgendaPublishedV1
from shared.job_lock import one_at_a_time
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)


@dataclass(frozen=True)
class Publication:
    """The latest version of a meeting's agenda sent to its recipients, and a digest of its text."""

    version: int
    published_at: datetime
    digest: str


def digest_of(markdown: str) -> str:
    """Publication compares agendas by this digest of their Markdown (the PDF renders from the
    same layout). The digest recorded is of the version's text as sent, version line included:
    documents.py rebuilds an unchanged agenda as that version, so it digests alike."""
    return hashlib.sha256(markdown.encode()).hexdigest()


async def latest_publication(
    connection: AsyncConnection, series_id: str, starts_at: datetime
) -> Publication | None:
    last = (
        await connection.execute(
            sa.select(
                agenda_publications.c.version,
                agenda_publications.c.published_at,
                agenda_publications.c.digest,
            )
            .where(
                agenda_publications.c.meeting_series == series_id,
                agenda_publications.c.meeting_starts_at == starts_at,
            )
            .order_by(agenda_publications.c.version.desc())
            .limit(1)
        )
    ).first()
    return None if last is None else Publication(last.version, last.published_at, last.digest)


@dataclass(frozen=True)
class Publisher:
    engine: AsyncEngine
    calendar: MeetingCalendar
    clock: Clock
    agenda_topic: str
    on_commit: Callable[[], None]
    # One publication at a time in this process. On PostgreSQL `one_at_a_time` orders them across
    # instances too; on SQLite (one instance) it does nothing, and the automatic pass and the
    # coordinator's button could otherwise both read version N and both write N + 1 while a PDF
    # is drawn, with the event loop free between the read and the write.
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False, compare=False)

    async def publish_due(self) -> int:
        now = self.clock.now()
        published = 0
        for series in self.calendar.series:
            for starts_at in series.occurrences_after(now):
                if series.publish_at(starts_at) <= now < starts_at:
                    published += await self._publish_if_changed(series.id, starts_at)
        if published:
            self.on_commit()
        return published

    async def publish_now(self, series_id: str, starts_at: datetime, actor: Actor) -> Publication:
        """Publish the meeting's agenda at once, as the automatic pass would at its time; the
        staff action is recorded with the version it made. Unchanged since the last version:
        nothing is sent or recorded, and that version is returned."""
        try:
            published = await self._publish_if_changed(series_id, starts_at, actor)
        except IntegrityError:
            # The automatic pass inserted the same next version first: look again, which finds
            # that text already published (or publishes what changed since, as the next version).
            published = await self._publish_if_changed(series_id, starts_at, actor)
        if published:
            self.on_commit()
        async with self.engine.connect() as connection:
            latest = await latest_publication(connection, series_id, starts_at)
        assert latest is not None  # just published, or published before with the same text
        return latest

    async def _publish_if_changed(
        self, series_id: str, starts_at: datetime, actor: Actor | None = None
    ) -> int:
        async with self._turn:
            return await self._publish_in_turn(series_id, starts_at, actor)

    async def _publish_in_turn(
        self, series_id: str, starts_at: datetime, actor: Actor | None
    ) -> int:
        series = next(item for item in self.calendar.series if item.id == series_id)
        async with self.engine.begin() as connection:
            # Several instances (and the coordinator's button) publish a meeting one at a time,
            # each drafting after the last committed: else two could both send version 1 (one
            # failing on the primary key), or one could send, as the next version, a draft older
            # than the version another had just sent (an item missing from the "revision").
            await one_at_a_time(
                connection, f"agenda {series_id} {starts_at.astimezone(UTC):%Y-%m-%dT%H:%M}"
            )
            drafted = await agenda_documents(self.engine, series, starts_at)
            last = await latest_publication(connection, series_id, starts_at)
            # Unchanged: the text, printed as the last version, is the one that version sent.
            if last is not None and last.digest == digest_of(
                drafted.as_version(last.version, last.published_at).markdown
            ):
                return 0
            version = 1 if last is None else last.version + 1
            now = self.clock.now()
            # The documents say which version they are; the digest is of the text sent.
            documents = drafted.as_version(version, now)
            markdown = documents.markdown
            digest = digest_of(markdown)
            # Drawn off the event loop (drawing.py), and before this transaction's first write,
            # so SQLite's write lock is not held while it draws.
            pdf = await drawn(documents.pdf)
            await connection.execute(
                agenda_publications.insert().values(
                    meeting_series=series_id, meeting_starts_at=starts_at, version=version,
                    digest=digest, published_at=now,
                )
            )  # fmt: skip
            if actor:
                await actor.record(
                    connection, "agenda.publish", f"{series_id} {starts_at.isoformat()}",
                    f"version {version}",
                )  # fmt: skip
            day = starts_at.astimezone(LONDON).date().isoformat()
            files = (
                (f"agenda-{series_id}-{day}-v{version}.pdf", "application/pdf", pdf),
                (
                    f"{series_id}-{day}.ics",
                    "text/calendar",
                    invitation(series, starts_at, version, created_at=now),
                ),
                (f"agenda-{series_id}-{day}-v{version}.md", "text/markdown", markdown.encode()),
            )
            await enqueue(
                connection, outbox, self.agenda_topic, f"{series_id}:{day}",
                AgendaPublishedV1(
                    occurred_at=now, correlation_id=f"agenda-{series_id}-{day}", producer=PRODUCER,
                    meeting_series=series_id, meeting_starts_at=starts_at, title=series.title,
                    version=version,
                    recipients=series.recipients,
                    attachments=tuple(
                        AgendaAttachment(filename=name, content_type=kind, content_base64=base64.b64encode(data).decode())
                        for name, kind, data in files
                    ),
                ),
            )  # fmt: skip
        log.info("agenda_published", meeting_series=series_id, version=version)
        return 1
