"""The Norfolk Anti-Slavery Network's agenda: anonymised, aggregated items only. Counts by
exploitation type and district, operations, and themes from casework's figures; never a case
reference. Counts below a threshold are shown as "fewer than N", so a small district cannot
point to a person."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.meeting_scheduler.adapters.tables import (
    casework_figures,
    learning_flags,
    referral_stats,
)
from services.meeting_scheduler.calendar import MeetingSeries
from services.meeting_scheduler.common_sections import (
    actions_table,
    attendance_register,
    other_business,
)
from services.meeting_scheduler.layout import (
    DRAFT,
    Bullets,
    Layout,
    Paragraph,
    Revision,
    Section,
    Table,
    span,
)
from shared.clock import LONDON
from shared.db import insert_ignoring_duplicates
from shared.events import CaseworkFiguresV1, ChildReferralOpenedV1, ReferralOpenedV1
from shared.labels import DISTRICTS, EXPLOITATION, TASK_KINDS, label
from shared.sqlite_driver import on_database_thread

if TYPE_CHECKING:  # annotations only: minutes.py may come to import from the agenda modules
    from services.meeting_scheduler.agenda import OtherBusiness
    from services.meeting_scheduler.minutes import ActionView, Attendance

SMALL_NUMBER = 3  # counts under this are suppressed (statistical disclosure control)


@dataclass(frozen=True)
class QuarterSummary:
    since: datetime
    until: datetime
    referrals: int
    by_exploitation: dict[str, int] = field(default_factory=dict)
    by_district: dict[str, int] = field(default_factory=dict)
    operations: dict[str, int] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    learning: tuple[str, ...] = ()


async def record_referral(
    event: ReferralOpenedV1 | ChildReferralOpenedV1, engine: AsyncEngine
) -> None:
    async with engine.begin() as connection:
        await count_referral(connection, event)


async def count_referral(
    connection: AsyncConnection, event: ReferralOpenedV1 | ChildReferralOpenedV1
) -> None:
    """The referral's line in the NASN's counts, in the caller's transaction (an adult's goes in
    with its agenda item); a second delivery adds nothing."""
    await connection.execute(
        insert_ignoring_duplicates(connection, referral_stats).values(
            case_reference=event.case_reference, occurred_at=event.occurred_at,
            district=event.district.value,
            exploitation_types=",".join(item.value for item in event.exploitation_types),
            operation=event.operation,
        )
    )  # fmt: skip


async def record_figures(event: CaseworkFiguresV1, engine: AsyncEngine) -> None:
    document = json.dumps(
        event.model_dump(mode="json", exclude={"event_id", "correlation_id", "causation_id"})
    )
    async with engine.begin() as connection:
        # The newest report wins, whatever order reports arrive in (several casework instances,
        # a redelivery): an older one changes nothing. The row exists then, so the insert below
        # does nothing either.
        updated = await connection.execute(
            casework_figures.update()
            .where(casework_figures.c.id == 1, casework_figures.c.reported_at <= event.occurred_at)
            .values(figures=document, reported_at=event.occurred_at)
        )
        if not updated.rowcount:
            await connection.execute(
                insert_ignoring_duplicates(connection, casework_figures).values(
                    id=1, figures=document, reported_at=event.occurred_at
                )
            )


async def summarise(engine: AsyncEngine, since: datetime, until: datetime) -> QuarterSummary:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(referral_stats).where(
                    referral_stats.c.occurred_at >= since, referral_stats.c.occurred_at < until
                )
            )
        ).all()
        figures_row = (await connection.execute(sa.select(casework_figures.c.figures))).first()
        learning = (
            (
                await connection.execute(
                    sa.select(learning_flags.c.theme)
                    .where(
                        learning_flags.c.flagged_at >= since, learning_flags.c.flagged_at < until
                    )
                    .order_by(learning_flags.c.flagged_at, learning_flags.c.flag_id)
                )
            )
            .scalars()
            .all()
        )
    exploitation: Counter[str] = Counter()
    for row in rows:
        exploitation.update(filter(None, row.exploitation_types.split(",")))
    return QuarterSummary(
        since=since,
        until=until,
        referrals=len(rows),
        by_exploitation=dict(exploitation),
        by_district=dict(Counter(row.district for row in rows)),
        operations=dict(Counter(row.operation for row in rows if row.operation)),
        figures=json.loads(figures_row.figures) if figures_row else {},
        learning=tuple(learning),
    )


def _count(value: int) -> str:
    return f"fewer than {SMALL_NUMBER}" if 0 < value < SMALL_NUMBER else str(value)


def _counts(title: str, counts: dict[str, int], names: dict[str, str] | None = None) -> Section:
    """A part of the agenda: a table of counts, small ones suppressed, in label order. `names`
    None: the names are shown as written (police operations)."""
    if not counts:
        return Section(title, (Paragraph("None this period."),), level=3)
    rows = sorted(
        (label(names, name) if names is not None else name, _count(value))
        for name, value in counts.items()
    )
    return Section(title, (Table(("", "Count"), (75, 25), tuple(rows)),), level=3)


def _named_only_when_counted(counts: dict[str, int]) -> dict[str, int]:
    """An operation's name with a count under 3 could point to the one or two people it found:
    such names are folded into one row, itself suppressed while under 3."""
    shown = {name: value for name, value in counts.items() if value >= SMALL_NUMBER}
    if hidden := sum(value for value in counts.values() if value < SMALL_NUMBER):
        shown["other operations (fewer than 3 each)"] = hidden
    return shown


def nasn_layout(
    series: MeetingSeries,
    starts_at: datetime,
    summary: QuarterSummary,
    *,
    attendance: Attendance | None = None,
    actions: Sequence[ActionView] = (),
    other: Sequence[OtherBusiness] = (),
    revision: Revision = DRAFT,
) -> Layout:
    """The NASN's agenda: the same cover, register and actions as the case panel's, then counts
    only. Counts under SMALL_NUMBER read "fewer than 3"; no case reference appears."""
    figures = summary.figures
    since, until = summary.since.astimezone(LONDON), summary.until.astimezone(LONDON)
    period = f"{since.day} {since:%B %Y} to {until.day} {until:%B %Y}"
    themes: list[Section] = []
    if figures:
        median = figures.get("median_hours_to_first_contact")
        themes = [
            Section(
                "4. Themes from casework",
                (
                    Paragraph(
                        f"People supported: {figures.get('people_supported')} of "
                        f"{figures.get('target')}. Median hours from police contact to first "
                        f"contact: {median if median is not None else 'not yet known'}."
                    ),
                ),
            ),
            _counts("Open tasks by need", figures.get("open_tasks_by_need", {}), TASK_KINDS),
            _counts("Overdue tasks by need", figures.get("overdue_tasks_by_need", {}), TASK_KINDS),
            _counts(
                "Referrals made, by organisation",
                figures.get("referrals_by_organisation", {}),
                {},  # casework's organisation keys (housing_options): shown as words
            ),
        ]
    else:
        themes = [Section("4. Themes from casework", (Paragraph("No figures from casework yet."),))]
    return Layout(
        title=series.title,
        cover=(
            ("When", span(starts_at, series.duration_minutes)),
            ("Where", series.location),
            ("Chair", series.chair),
            ("Period", period),
            ("Version", revision.describe()),
        ),
        sections=(
            Section("1. Attendance and apologies", (attendance_register(series, attendance),)),
            Section("2. Actions from the last meeting", (actions_table(actions, starts_at),)),
            Section(
                "3. Referrals this period",
                (Paragraph(f"Referrals: {_count(summary.referrals)}"),),
            ),
            _counts("By exploitation type", summary.by_exploitation, EXPLOITATION),
            _counts("By district", summary.by_district, DISTRICTS),
            _counts("Police operations", _named_only_when_counted(summary.operations)),
            *themes,
            Section(
                "5. Flagged for learning",
                (Bullets(summary.learning),)
                if summary.learning
                else (Paragraph("Nothing flagged this period."),),
            ),
            other_business("6. Any other business", other),
        ),
        created=starts_at.astimezone(LONDON),
    )


@on_database_thread  # a whole-table update: on SQLite it must not hold the loop
async def erase_old_operations(engine: AsyncEngine, before: datetime) -> int:
    """Operation names of referrals older than `before`: the NASN agenda of their quarter is long
    published, and a name with a date and a district narrows down who was found."""
    async with engine.begin() as connection:
        result = await connection.execute(
            referral_stats.update()
            .where(referral_stats.c.occurred_at < before, referral_stats.c.operation.is_not(None))
            .values(operation=None)
        )
    return result.rowcount or 0


async def flag_for_learning(
    engine: AsyncEngine, theme: str, flagged_by: str, now: datetime
) -> None:
    import uuid

    async with engine.begin() as connection:
        await connection.execute(
            learning_flags.insert().values(
                flag_id=str(uuid.uuid4()), theme=theme, flagged_by=flagged_by, flagged_at=now
            )
        )
