"""Acknowledging an alert stops it: every pending step and notification is cancelled in the same
transaction that records who acknowledged, and the event tells casework who took the case.

Only an open alert, by a code or link still within its expiry, is acknowledged. Anything else is one
refusal, whatever the reason (unknown, expired, closed, malformed), so a guesser learns nothing.
Sending a code or link again after one's own acknowledgement answers "acknowledged" again: a retry
over a bad night-time connection must not look like a failure, and it reveals nothing (only the
holder of that person's code or link gets it). Someone else's code on the closed alert is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.adapters.tables import (
    alerts,
    burst_batches,
    escalation_steps,
    notifications,
    outbox,
)
from services.notifier.deps import PRODUCER, NotifierDeps
from services.notifier.domain import normalise_ack_code
from shared.events import AlertAcknowledgedV1
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)


RefusalReason = Literal["malformed", "unknown", "expired", "closed"]


class AckRefused(Exception):
    """The code or link acknowledges nothing. `reason` is for the log and the counters only: every
    caller answers every reason alike."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(reason)
        self.reason: RefusalReason = reason


@dataclass(frozen=True)
class AckResult:
    alert_id: str
    kind: str
    case_references: tuple[str, ...]
    acknowledged_by: str
    acknowledged_at: datetime
    already: bool  # someone had acknowledged it before


async def alert_for_code(deps: NotifierDeps, code: str) -> tuple[str, str]:
    """The alert and the person a code was sent for, if the code is ours and not expired."""
    normalised = normalise_ack_code(code)
    if normalised is None:
        raise AckRefused("malformed")
    async with deps.engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(
                    notifications.c.alert_id,
                    notifications.c.person_id,
                    notifications.c.ack_expires_at,
                ).where(notifications.c.ack_code == normalised)
            )
        ).first()
    if row is None:
        raise AckRefused("unknown")
    if row.ack_expires_at is None or deps.clock.now() >= row.ack_expires_at:
        raise AckRefused("expired")
    return str(row.alert_id), str(row.person_id)


async def acknowledge(
    deps: NotifierDeps, alert_id: str, person_id: str, via: Literal["link", "code", "console"]
) -> AckResult:
    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        alert = (
            await connection.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id))
        ).first()
        if alert is None:
            raise AckRefused("unknown")
        references = await _case_references(connection, alert)
        won = await connection.execute(
            alerts.update()
            .where(alerts.c.alert_id == alert_id, alerts.c.status == "open")
            .values(status="acknowledged", acknowledged_at=now, acknowledged_by=person_id)
        )
        if won.rowcount != 1:
            # Not open, or someone won since `alert` was read: read who, and when, again.
            winner = (
                await connection.execute(
                    sa.select(alerts.c.acknowledged_by, alerts.c.acknowledged_at).where(
                        alerts.c.alert_id == alert_id
                    )
                )
            ).one()
            if winner.acknowledged_by != person_id:
                raise AckRefused("closed")
            return AckResult(
                alert_id,
                alert.kind,
                references,
                str(winner.acknowledged_by),
                winner.acknowledged_at or now,
                already=True,
            )
        await connection.execute(
            escalation_steps.update()
            .where(escalation_steps.c.alert_id == alert_id, escalation_steps.c.status == "pending")
            .values(status="cancelled")
        )
        await connection.execute(
            notifications.update()
            .where(notifications.c.alert_id == alert_id, notifications.c.status == "pending")
            .values(status="cancelled")
        )
        await enqueue(
            connection, outbox, deps.alerts_topic, alert.subject_key,
            AlertAcknowledgedV1(
                occurred_at=now, correlation_id=alert.correlation_id, producer=PRODUCER,
                alert_id=alert_id, case_references=references, person_id=person_id, via=via,
            ),
        )  # fmt: skip
    # Committed, and this call won: a repeated acknowledgement (`already`) is not counted again.
    deps.metrics.acknowledged(via, str(alert.urgency), alert.raised_at, now)
    deps.wake_outbox()
    log.info("alert_acknowledged", alert_id=alert_id, person_id=person_id, via=via)
    return AckResult(alert_id, alert.kind, references, person_id, now, already=False)


async def _case_references(connection: AsyncConnection, alert: sa.Row[Any]) -> tuple[str, ...]:
    """A case alert names its case; a grouped alert, every case of its batch."""
    if alert.case_reference:
        return (str(alert.case_reference),)
    batch = (
        await connection.execute(
            sa.select(burst_batches.c.case_references).where(
                burst_batches.c.batch_id == alert.subject_key
            )
        )
    ).first()
    return tuple(batch.case_references.split(",")) if batch else ()
