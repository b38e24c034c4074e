"""Building and publishing the funder's quarterly report (issue #15 part 6).

Casework closes a financial quarter (CaseworkQuarterV1 on the tasks topic) with its figures; the
meeting scheduler adds its own for the same periods (the quarter, and the project to date from
`project_starts`), both from London midnight of the first day to London midnight after the last:

- operations supported: police operations announced ahead (operations.py) whose window started in
  the period; with the people met under them (contacts of the operation's group the police met
  from a day before the window's start to the period's end, as the debrief counts them);
- training sessions held: sessions that started in the period with their attendance recorded
  (training.py: a session is held once attendance is recorded), and the total attending;
- NASN meetings held: meetings of a NASN series that started in the period, before the report was
  built, with at least one organisation recorded present in their minutes. A published agenda
  alone does not count: a meeting can be called off after its agenda went out.

The report (funder_report.py) is kept per quarter and version (funder_reports): a redelivered
event, or any version not above the one kept, changes nothing and sends nothing; a higher version
is kept beside it and becomes the report. Each new version goes to the head of service as
FunderReportPublishedV1 on the agenda topic, PDF and CSV attached (the notifier e-mails it), in the
same transaction as the row."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.meeting_scheduler.adapters.tables import (
    funder_reports,
    meeting_attendance,
    operation_contacts,
    operation_debriefs,
    outbox,
    training_sessions,
)
from services.meeting_scheduler.calendar import MeetingKind
from services.meeting_scheduler.drawing import drawn
from services.meeting_scheduler.funder_report import (
    Figure,
    SchedulerFigures,
    figures_of,
    quarter_title,
    to_csv,
    to_pdf,
)
from services.meeting_scheduler.handlers import PRODUCER, SchedulerDeps
from services.meeting_scheduler.minutes import PRESENT
from services.meeting_scheduler.operations import EARLY_CONTACTS
from shared.clock import LONDON
from shared.db import insert_ignoring_duplicates
from shared.events import AgendaAttachment, CaseworkQuarterV1, FunderReportPublishedV1
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LONDON)


async def scheduler_figures(
    connection: AsyncConnection,
    nasn_series: tuple[str, ...],
    first_day: date,
    last_day: date,
    now: datetime,
) -> SchedulerFigures:
    since, until = _midnight(first_day), _midnight(last_day + timedelta(days=1))
    operations = (
        await connection.execute(
            sa.select(operation_debriefs.c.operation_group, operation_debriefs.c.starts_at).where(
                operation_debriefs.c.starts_at >= since, operation_debriefs.c.starts_at < until
            )
        )
    ).all()
    contacts = 0
    for operation in operations:
        contacts += int(
            await connection.scalar(
                sa.select(sa.func.count())
                .select_from(operation_contacts)
                .where(
                    operation_contacts.c.operation_group == operation.operation_group,
                    operation_contacts.c.recorded_at >= operation.starts_at - EARLY_CONTACTS,
                    operation_contacts.c.recorded_at < until,
                )
            )
            or 0
        )
    held = (
        await connection.execute(
            sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(training_sessions.c.attending), 0)
            ).where(
                training_sessions.c.attending.is_not(None),
                training_sessions.c.starts_at >= since,
                training_sessions.c.starts_at < until,
            )
        )
    ).one()
    meetings = (
        await connection.execute(
            sa.select(meeting_attendance.c.meeting_series, meeting_attendance.c.meeting_starts_at)
            .where(
                meeting_attendance.c.meeting_series.in_(nasn_series),
                meeting_attendance.c.status == PRESENT,
                meeting_attendance.c.meeting_starts_at >= since,
                meeting_attendance.c.meeting_starts_at < until,
                meeting_attendance.c.meeting_starts_at <= now,
            )
            .distinct()
        )
    ).all()
    return SchedulerFigures(
        operations_supported=len(operations),
        operation_contacts=contacts,
        training_sessions_held=int(held[0]),
        training_attendance=int(held[1]),
        nasn_meetings_held=len(meetings),
    )


@dataclass(frozen=True)
class Rendered:
    figures: list[Figure]
    pdf: bytes
    csv: str


def _render(
    event: CaseworkQuarterV1, quarter: SchedulerFigures, to_date: SchedulerFigures
) -> Rendered:
    rows = figures_of(event, quarter, to_date)
    return Rendered(rows, to_pdf(event, rows, event.version, event.occurred_at), to_csv(rows))


def file_stem(quarter: str, version: int) -> str:
    return f"funder-report-{quarter}-v{version}"


async def publish_quarter(event: CaseworkQuarterV1, deps: SchedulerDeps) -> bool:
    """Build, keep and send the quarter's report. False: this version (or a later one) is kept."""
    async with deps.engine.connect() as connection:
        kept = await connection.scalar(
            sa.select(sa.func.max(funder_reports.c.version)).where(
                funder_reports.c.quarter == event.quarter
            )
        )
        if kept is not None and kept >= event.version:
            log.info("funder_report_unchanged", quarter=event.quarter, version=event.version)
            return False
        now = deps.clock.now()
        nasn = tuple(item.id for item in deps.calendar.series if item.kind is MeetingKind.NASN)
        quarter = await scheduler_figures(connection, nasn, event.starts_on, event.ends_on, now)
        to_date = await scheduler_figures(
            connection, nasn, event.project_starts, event.ends_on, now
        )
    # matplotlib and fpdf2 take a second or so: off the event loop, which keeps consuming.
    rendered = await drawn(_render, event, quarter, to_date)
    stem = file_stem(event.quarter, event.version)
    async with deps.engine.begin() as connection:
        inserted = await connection.execute(
            insert_ignoring_duplicates(connection, funder_reports).values(
                quarter=event.quarter, version=event.version, event_id=str(event.event_id),
                starts_on=event.starts_on, ends_on=event.ends_on,
                figures=json.dumps([asdict(row) for row in rendered.figures]),
                pdf=rendered.pdf, csv=rendered.csv, published_at=now,
            )
        )  # fmt: skip
        if not inserted.rowcount:  # the same version kept meanwhile (a redelivery raced it)
            return False
        files = (
            (f"{stem}.pdf", "application/pdf", rendered.pdf),
            (f"{stem}.csv", "text/csv", rendered.csv.encode()),
        )
        await enqueue(
            connection, outbox, deps.agenda_topic, f"funder-report:{event.quarter}",
            FunderReportPublishedV1(
                occurred_at=now, correlation_id=event.correlation_id, causation_id=str(event.event_id),
                producer=PRODUCER, quarter=event.quarter, version=event.version,
                title=quarter_title(event.quarter),
                attachments=tuple(
                    AgendaAttachment(
                        filename=name, content_type=kind,
                        content_base64=base64.b64encode(data).decode(),
                    )
                    for name, kind, data in files
                ),
            ),
        )  # fmt: skip
    log.info("funder_report_published", quarter=event.quarter, version=event.version)
    deps.on_commit()
    return True


@dataclass(frozen=True)
class StoredReport:
    quarter: str
    version: int
    starts_on: date
    ends_on: date
    published_at: datetime
    figures: list[Figure]
    pdf: bytes
    csv: str


async def list_reports(engine: AsyncEngine) -> list[tuple[str, int, datetime]]:
    """(quarter, latest version, when it was published), newest quarter first."""
    latest = (
        sa.select(funder_reports.c.quarter, sa.func.max(funder_reports.c.version).label("version"))
        .group_by(funder_reports.c.quarter)
        .subquery()
    )
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(
                    funder_reports.c.quarter, funder_reports.c.version,
                    funder_reports.c.published_at,
                )
                .join(
                    latest,
                    sa.and_(
                        latest.c.quarter == funder_reports.c.quarter,
                        latest.c.version == funder_reports.c.version,
                    ),
                )
                .order_by(funder_reports.c.quarter.desc())
            )
        ).all()  # fmt: skip
    return [(row.quarter, row.version, row.published_at) for row in rows]


async def latest_report(engine: AsyncEngine, quarter: str) -> StoredReport | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(funder_reports)
                .where(funder_reports.c.quarter == quarter)
                .order_by(funder_reports.c.version.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None
    return StoredReport(
        quarter=row.quarter, version=row.version, starts_on=row.starts_on, ends_on=row.ends_on,
        published_at=row.published_at,
        figures=[Figure(**item) for item in json.loads(row.figures)], pdf=row.pdf, csv=row.csv,
    )  # fmt: skip
