"""Alerting figures for the funders' report: by urgency, how many alerts were raised, how many
acknowledged within target, and the median time to acknowledge.

The target is the policy's own: acknowledged before its second escalation step, that is before
anyone had to be paged again (5 minutes for an immediate alert in the shipped policy). A
measure read off the configuration, so changing the policy changes the bar, visibly."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.tables import alerts
from services.notifier.policy import AlertingPolicy
from shared.events import Urgency
from shared.sqlite_driver import on_database_thread

# Alerts about a case (a single referral, a child referral, a raid's grouped alert): reminders,
# agenda and rota-gap notices are not answered by taking a case.
CASE_ALERT_KINDS = ("referral", "child_referral", "grouped")


def target_for(policy: AlertingPolicy, urgency: Urgency) -> timedelta:
    schedule = policy.escalation[urgency].schedule()
    later = [delay for delay, _ in schedule if delay > timedelta(0)]
    return min(later) if later else timedelta(hours=24)


@on_database_thread  # every case alert: on SQLite the read must not hold the loop
async def alert_figures(
    engine: AsyncEngine, policy: AlertingPolicy, since: datetime | None = None
) -> list[dict[str, Any]]:
    query = sa.select(alerts.c.urgency, alerts.c.raised_at, alerts.c.acknowledged_at).where(
        alerts.c.kind.in_(CASE_ALERT_KINDS)
    )
    if since is not None:
        query = query.where(alerts.c.raised_at >= since)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    figures = []
    for urgency in Urgency:
        target = target_for(policy, urgency)
        mine = [row for row in rows if row.urgency == urgency.value]
        waits = [
            row.acknowledged_at - row.raised_at for row in mine if row.acknowledged_at is not None
        ]
        within = sum(1 for wait in waits if wait <= target)
        figures.append(
            {
                "urgency": urgency.value,
                "target_minutes": round(target.total_seconds() / 60, 1),
                "alerts": len(mine),
                "acknowledged": len(waits),
                "within_target": within,
                "within_target_percent": round(100 * within / len(mine)) if mine else None,
                "median_minutes_to_acknowledge": (
                    round(statistics.median(w.total_seconds() for w in waits) / 60, 1)
                    if waits
                    else None
                ),
            }
        )
    return figures
