"""Notifier use cases: record alerts for a referral (durably), then deliver them.

Recording and delivering are split on purpose: the consumer only writes the alert rows (one
transaction with the processed-event claim), so a provider outage never blocks or fails the topic;
the dispatcher delivers due alerts with backoff until each is delivered, across restarts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.tables import alerts, outbox, processed_events
from services.notifier.domain import (
    Alertable,
    alert_fields,
    recipients,
    render_alert,
    retry_delay_seconds,
)
from services.notifier.ports import Sender
from services.notifier.rota import Rota
from shared.clock import Clock
from shared.db import claim_event, insert_ignoring_duplicates
from shared.events import AlertDeliveredV1, ChildReferralOpenedV1
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)
PRODUCER = "notifier"


@dataclass(frozen=True)
class NotifierDeps:
    engine: AsyncEngine
    rota: Rota
    sender: Sender
    clock: Clock
    alerts_topic: str
    lease: timedelta
    wake_dispatcher: Callable[[], None]
    wake_outbox: Callable[[], None]


async def record_alerts(event: Alertable, deps: NotifierDeps) -> int:
    """Returns how many alerts were recorded (0 for a redelivered event)."""
    now = deps.clock.now()
    text = render_alert(
        alert_fields(event, deps.rota.timezone), child=isinstance(event, ChildReferralOpenedV1)
    )
    people = recipients(deps.rota, event, now)
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return 0
        for person in people:
            await connection.execute(
                insert_ignoring_duplicates(connection, alerts).values(
                    alert_id=str(uuid.uuid4()),
                    case_reference=event.case_reference,
                    recipient_id=person.id,
                    recipient_role=person.role.value,
                    urgency=event.urgency.value,
                    title=text.title,
                    body=text.body,
                    correlation_id=event.correlation_id,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    deps.wake_dispatcher()
    log.info("alerts_recorded", case_reference=event.case_reference, recipients=len(people))
    return len(people)


async def deliver_due(deps: NotifierDeps) -> int:
    """Deliver every pending alert that is due; returns how many were delivered."""
    now = deps.clock.now()
    async with deps.engine.connect() as connection:
        due = (
            (
                await connection.execute(
                    sa.select(alerts.c.alert_id)
                    .where(alerts.c.status == "pending", alerts.c.next_attempt_at <= now)
                    .order_by(alerts.c.created_at)
                    .limit(50)
                )
            )
            .scalars()
            .all()
        )
    delivered = 0
    for alert_id in due:
        delivered += await _deliver_one(alert_id, deps)
    return delivered


async def _deliver_one(alert_id: str, deps: NotifierDeps) -> int:
    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        # A lease: another dispatcher (or this one after a crash) may retry only once it expires.
        claimed = await connection.execute(
            alerts.update()
            .where(
                alerts.c.alert_id == alert_id,
                alerts.c.status == "pending",
                alerts.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + deps.lease)
        )
        if claimed.rowcount != 1:
            return 0
        row = (
            await connection.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id))
        ).one()
    person = deps.rota.person(row.recipient_id) if _known(deps.rota, row.recipient_id) else None
    channels = person.channels if person else deps.rota.person(deps.rota.last_resort).channels
    started = asyncio.get_running_loop().time()
    try:
        result = await deps.sender.send(channels, row.title, row.body)
        succeeded = result.succeeded
    except Exception as error:  # noqa: BLE001 - a provider failure is retried, whatever it is
        log.warning("alert_send_raised", alert_id=alert_id, error_type=type(error).__name__)
        succeeded = 0
    latency_ms = round((asyncio.get_running_loop().time() - started) * 1000)
    attempts = row.attempts + 1
    finished = deps.clock.now()
    async with deps.engine.begin() as connection:
        if succeeded:
            await connection.execute(
                alerts.update()
                .where(alerts.c.alert_id == alert_id)
                .values(status="delivered", attempts=attempts, delivered_at=finished)
            )
            await enqueue(
                connection,
                outbox,
                deps.alerts_topic,
                row.case_reference,
                AlertDeliveredV1(
                    occurred_at=finished,
                    correlation_id=row.correlation_id,
                    producer=PRODUCER,
                    case_reference=row.case_reference,
                    alert_id=alert_id,
                    recipient_role=row.recipient_role,
                    channels_succeeded=succeeded,
                    attempts=attempts,
                ),
            )
        else:
            retry_at = finished + timedelta(seconds=retry_delay_seconds(attempts))
            await connection.execute(
                alerts.update()
                .where(alerts.c.alert_id == alert_id)
                .values(attempts=attempts, next_attempt_at=retry_at)
            )
    if succeeded:
        deps.wake_outbox()
        log.info("alert_delivered", alert_id=alert_id, case_reference=row.case_reference,
                 attempts=attempts, latency_ms=latency_ms)  # fmt: skip
        return 1
    log.warning("alert_delivery_failed", alert_id=alert_id, case_reference=row.case_reference,
                attempts=attempts, latency_ms=latency_ms)  # fmt: skip
    return 0


def _known(rota: Rota, person_id: str) -> bool:
    return any(person.id == person_id for person in rota.people)
