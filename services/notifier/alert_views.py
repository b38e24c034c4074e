"""Alerts as the console lists them ("Now"): newest first, each with how far its escalation has
gone, who has been paged and when the next step is due. Three queries whatever the number of
alerts: the alerts (with a grouped alert's cases), their steps summed up, and who was paged.

Nothing here can name a victim: alerts hold case references, urgency, kind and staff person ids
only (the message fields stay in the notifier).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.tables import alerts, burst_batches, escalation_steps, notifications
from shared.db import UtcDateTime
from shared.sqlite_driver import on_database_thread

StatusFilter = Literal["open", "acknowledged", "all"]


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


@on_database_thread  # a scan and sort of every alert: on SQLite it must not hold the loop
async def list_alerts(
    engine: AsyncEngine, status: StatusFilter, case_reference: str | None, limit: int
) -> list[AlertSummary]:
    # A grouped alert (a raid) names no single case: its cases are in its burst batch.
    batch = sa.and_(alerts.c.kind == "grouped", burst_batches.c.batch_id == alerts.c.subject_key)
    query = sa.select(
        alerts.c.alert_id, alerts.c.kind, alerts.c.case_reference, alerts.c.urgency,
        alerts.c.status, alerts.c.raised_at, alerts.c.acknowledged_at, alerts.c.acknowledged_by,
        burst_batches.c.case_references,
    ).select_from(alerts.outerjoin(burst_batches, batch))  # fmt: skip
    if status != "all":
        query = query.where(alerts.c.status == status)
    if case_reference is not None:
        listed = sa.literal(",") + burst_batches.c.case_references + sa.literal(",")
        query = query.where(
            sa.or_(
                alerts.c.case_reference == case_reference,
                listed.contains(f",{case_reference},", autoescape=True),
            )
        )
    query = query.order_by(alerts.c.raised_at.desc(), alerts.c.alert_id).limit(limit)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
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
