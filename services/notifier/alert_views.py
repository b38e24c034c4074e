"""Alerts as the console lists them ("Now"): newest first, each with how far its escalation has
gone, who has been paged and when the next step is due. Three queries whatever the number of
alerts: the alerts (with a grouped alert's cases), their steps summed up, and who was paged;
a fourth, a count, only when more match than the page holds.

Nothing here can name a victim: alerts hold case references, urgency, kind and staff person ids
only (the message fields stay in the notifier).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.notifier.adapters.tables import alerts, burst_batches, escalation_steps, notifications
from shared.db import UtcDateTime
from shared.sqlite_driver import on_database_thread

StatusFilter = Literal["open", "acknowledged", "all"]
# A row of the alert list's read, whatever its columns.
Row = sa.Row[*tuple[Any, ...]]


@dataclass(frozen=True)
class AlertSummary:
    alert_id: str
    kind: str
    case_reference: str | None
    case_references: tuple[str, ...]
    urgency: str
    status: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    steps_fired: int
    paged_person_ids: tuple[str, ...]
    next_step_at: datetime | None


@dataclass(frozen=True)
class AlertPage:
    """The newest `limit` alerts that match, and how many match in all: a list the console shows
    as complete must be able to say when it is not."""

    alerts: list[AlertSummary]
    total: int


@on_database_thread  # every alert ever raised, with status=all: on SQLite it must not hold the loop
async def list_alerts(
    engine: AsyncEngine, status: StatusFilter, case_reference: str | None, limit: int
) -> AlertPage:
    found = _matching(status, case_reference).subquery()
    query = (
        sa.select(found)
        .order_by(found.c.raised_at.desc(), found.c.alert_id)
        # One more than asked for: whether any lie beyond the page, without counting every time.
        .limit(limit + 1)
    )
    async with engine.connect() as connection:
        rows: Sequence[Row] = (await connection.execute(query)).all()
        total = len(rows)
        if total > limit:
            rows = rows[:limit]
            counted = sa.select(sa.func.count()).select_from(found)
            total = int((await connection.execute(counted)).scalar_one())
        return AlertPage(await _summaries(connection, rows), total)


def _matching(
    status: StatusFilter, case_reference: str | None
) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    """The alerts with this status (any, for "all") about this case (any, for None)."""
    # A grouped alert (a raid) names no single case: its cases are in its burst batch.
    batch = sa.and_(alerts.c.kind == "grouped", burst_batches.c.batch_id == alerts.c.subject_key)
    columns = (
        alerts.c.alert_id, alerts.c.kind, alerts.c.case_reference, alerts.c.urgency,
        alerts.c.status, alerts.c.raised_at, alerts.c.acknowledged_at, alerts.c.acknowledged_by,
        burst_batches.c.case_references,
    )  # fmt: skip
    with_status = [alerts.c.status == status] if status != "all" else []
    joined = alerts.outerjoin(burst_batches, batch)
    if case_reference is None:
        return sa.select(*columns).select_from(joined).where(*with_status)
    listed = sa.literal(",") + burst_batches.c.case_references + sa.literal(",")
    # Two reads, not one with OR: a case's own alerts by their index (notifier_0012), then the
    # grouped alerts whose batch lists it, by reading the batches (one a raid), not every alert.
    # UNION, not UNION ALL: an alert that named the case and listed it too is one alert.
    return sa.union(
        sa.select(*columns)
        .select_from(joined)
        .where(alerts.c.case_reference == case_reference, *with_status),
        sa.select(*columns)
        .select_from(burst_batches.join(alerts, batch))
        .where(listed.contains(f",{case_reference},", autoescape=True), *with_status),
    )


async def _summaries(connection: AsyncConnection, rows: Sequence[Row]) -> list[AlertSummary]:
    """Each alert with its escalation so far and who was paged: two reads for all of them."""
    ids = [row.alert_id for row in rows]
    if not ids:
        return []
    fired = sa.case((escalation_steps.c.status == "fired", 1), else_=0)
    pending_due = sa.case((escalation_steps.c.status == "pending", escalation_steps.c.due_at))
    steps = {
        row.alert_id: row
        for row in await connection.execute(
            sa.select(
                escalation_steps.c.alert_id,
                sa.func.sum(fired).label("fired"),
                # MIN over a CASE would lose the column's type (SQLite would hand back text).
                sa.type_coerce(sa.func.min(pending_due), UtcDateTime).label("next_at"),
            )
            .where(escalation_steps.c.alert_id.in_(ids))
            .group_by(escalation_steps.c.alert_id)
        )
    }
    paged: dict[str, list[str]] = defaultdict(list)
    # A cancelled notification was never sent (an acknowledgement stopped it while pending).
    for row in await connection.execute(
        sa.select(notifications.c.alert_id, notifications.c.person_id)
        .where(notifications.c.alert_id.in_(ids), notifications.c.status != "cancelled")
        .group_by(notifications.c.alert_id, notifications.c.person_id)
        .order_by(sa.func.min(notifications.c.created_at), notifications.c.person_id)
    ):
        paged[row.alert_id].append(row.person_id)
    return [
        AlertSummary(
            alert_id=row.alert_id, kind=row.kind, case_reference=row.case_reference,
            case_references=_references(row.case_reference, row.case_references),
            urgency=row.urgency, status=row.status, raised_at=row.raised_at,
            acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
            steps_fired=int(steps[row.alert_id].fired or 0) if row.alert_id in steps else 0,
            paged_person_ids=tuple(paged[row.alert_id]),
            next_step_at=steps[row.alert_id].next_at if row.alert_id in steps else None,
        )
        for row in rows
    ]  # fmt: skip


def _references(single: str | None, batch: str | None) -> tuple[str, ...]:
    if single:
        return (single,)
    return tuple(batch.split(",")) if batch else ()
