"""The Norfolk Anti-Slavery Network's agenda: anonymised, aggregated items only. Counts by
exploitation type and district, operations, and themes from casework's figures; never a case
reference. Counts below a threshold are shown as "fewer than N", so a small district cannot
point to a person."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import (
    casework_figures,
    learning_flags,
    referral_stats,
)
from services.meeting_scheduler.calendar import MeetingSeries
from shared.clock import LONDON
from shared.db import insert_ignoring_duplicates
from shared.events import CaseworkFiguresV1, ChildReferralOpenedV1, ReferralOpenedV1

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
        updated = await connection.execute(
            casework_figures.update()
            .where(casework_figures.c.id == 1)
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


def _table(title: str, counts: dict[str, int]) -> list[str]:
    lines = [f"### {title}", ""]
    if not counts:
        return [*lines, "None this quarter.", ""]
    lines += ["| | count |", "|---|---|"]
    lines += [
        f"| {name.replace('_', ' ')} | {_count(value)} |" for name, value in sorted(counts.items())
    ]
    return [*lines, ""]


def _named_only_when_counted(counts: dict[str, int]) -> dict[str, int]:
    """An operation's name with a count under 3 could point to the one or two people it found:
    such names are folded into one row, itself suppressed while under 3."""
    shown = {name: value for name, value in counts.items() if value >= SMALL_NUMBER}
    if hidden := sum(value for value in counts.values() if value < SMALL_NUMBER):
        shown["other operations (fewer than 3 each)"] = hidden
    return shown


def render_nasn_markdown(
    series: MeetingSeries, starts_at: datetime, summary: QuarterSummary
) -> str:
    local = starts_at.astimezone(LONDON)
    figures = summary.figures
    lines = [
        f"# {series.title}",
        "",
        f"- When: {local:%A %d %B %Y, %H:%M} ({local.tzname()}), {series.duration_minutes} minutes",
        f"- Where: {series.location}",
        f"- Period: {summary.since.astimezone(LONDON):%d %B %Y} to {summary.until.astimezone(LONDON):%d %B %Y}",
        "",
        "## Referrals this period",
        "",
        f"Referrals: {_count(summary.referrals)}",
        "",
        *_table("By exploitation type", summary.by_exploitation),
        *_table(
            "By district", {name.title(): value for name, value in summary.by_district.items()}
        ),
        *_table("Police operations", _named_only_when_counted(summary.operations)),
        "## Themes from casework",
        "",
    ]
    if figures:
        lines += [
            f"People supported: {figures.get('people_supported')} of {figures.get('target')}",
            f"Median hours from police contact to first contact: {figures.get('median_hours_to_first_contact') or 'not yet known'}",
            "",
            *_table("Open tasks by need", figures.get("open_tasks_by_need", {})),
            *_table("Overdue tasks by need", figures.get("overdue_tasks_by_need", {})),
            *_table(
                "Referrals made, by organisation", figures.get("referrals_by_organisation", {})
            ),
        ]
    else:
        lines += ["No figures from casework yet.", ""]
    lines += ["## Flagged for learning", ""]
    lines += [f"- {theme}" for theme in summary.learning] or ["Nothing flagged this period."]
    lines += ["", "## Any other business", ""]
    return "\n".join(lines)


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
