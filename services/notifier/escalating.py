"""Firing escalation steps: the durable timers. A step fires once, in the same transaction that
creates its notifications; a crash before the commit leaves it pending, a crash after it leaves it
fired with its notifications waiting for the dispatcher. Either way: exactly once."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.acks import make_token
from services.notifier.adapters.tables import alerts, escalation_steps, notifications, outbox
from services.notifier.deps import PRODUCER, NotifierDeps
from services.notifier.domain import (
    Notice,
    channels_for,
    new_ack_code,
    notice_for,
    render_message,
    renotify_prefix,
    resolve_targets,
)
from shared.db import insert_ignoring_duplicates
from shared.events import AlertEscalatedV1, Urgency
from shared.logging import get_logger
from shared.outbox import enqueue
from shared.rota import ChannelKind, Person

log = get_logger(__name__)

CODE_ATTEMPTS = 10
STEPS_PER_PASS = 100
EMAIL_ONLY_KINDS = frozenset({"agenda", "funder_report"})  # their files travel by email only


async def fire_due_steps(deps: NotifierDeps) -> int:
    now = deps.clock.now()
    async with deps.engine.connect() as connection:
        due = (
            await connection.execute(
                sa.select(escalation_steps.c.alert_id, escalation_steps.c.step)
                .where(escalation_steps.c.status == "pending", escalation_steps.c.due_at <= now)
                .order_by(escalation_steps.c.due_at)
                .limit(STEPS_PER_PASS)
            )
        ).all()
    fired = 0
    for alert_id, step in due:
        async with deps.engine.begin() as connection:
            done = await _fire(connection, deps, alert_id, step)
        if done:  # committed: this step fired here, and only here
            deps.metrics.step_fired(step)
        fired += done
    if fired:
        deps.wake_outbox()
    if len(due) == STEPS_PER_PASS:
        # More may be due. Otherwise no second pass: the notifications just made are sent by
        # this pass's deliver_due (NotifierClock.tick), or by the next freed slot.
        deps.wake_scheduler()
    return fired


async def _fire(connection: AsyncConnection, deps: NotifierDeps, alert_id: str, step: int) -> int:
    now = deps.clock.now()
    claimed = await connection.execute(
        escalation_steps.update()
        .where(
            escalation_steps.c.alert_id == alert_id,
            escalation_steps.c.step == step,
            escalation_steps.c.status == "pending",
        )
        .values(status="fired", fired_at=now)
    )
    if claimed.rowcount != 1:
        return 0  # another dispatcher fired it, or an acknowledgement cancelled it
    alert = (await connection.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id))).one()
    row = (
        await connection.execute(
            sa.select(escalation_steps.c.targets).where(
                escalation_steps.c.alert_id == alert_id, escalation_steps.c.step == step
            )
        )
    ).one()
    targets = tuple(filter(None, row.targets.split(",")))
    people = resolve_targets(deps.rota, targets, now)
    for person in people:
        await _notify(connection, deps, alert, step, person)
    if step > 0:
        await enqueue(
            connection,
            outbox,
            deps.alerts_topic,
            alert.subject_key,
            AlertEscalatedV1(
                occurred_at=now,
                correlation_id=alert.correlation_id,
                producer=PRODUCER,
                alert_id=alert_id,
                step=step,
                targets=targets,
                person_ids=tuple(person.id for person in people),
            ),
            trace_context=alert.trace_context,  # fired by a timer: no current span to take
        )
        log.warning("alert_escalated", alert_id=alert_id, step=step, targets=",".join(targets))
    return 1


async def _notify(
    connection: AsyncConnection, deps: NotifierDeps, alert: sa.Row[Any], step: int, person: Person
) -> None:
    urgency = Urgency(str(alert.urgency))
    kinds = channels_for(person, deps.policy.channels[urgency])
    if alert.kind in EMAIL_ONLY_KINDS:
        kinds = (
            tuple(kind for kind in person.channel_order() if kind is ChannelKind.EMAIL)[:1] or kinds
        )
    notice = await notice_for_person(connection, deps, str(alert.alert_id), step, person.id)
    for kind in kinds:
        await _insert_notification(connection, deps, alert, step, person, kind, notice)


async def notice_for_person(
    connection: AsyncConnection, deps: NotifierDeps, alert_id: str, step: int, person_id: str
) -> Notice:
    """Which notice `step` is for this person: the alert's earlier steps that sent them something,
    and its later pending steps that would (services/notifier/domain.py notice_for)."""
    earlier = await connection.scalar(
        sa.select(sa.func.count(sa.distinct(notifications.c.step))).where(
            notifications.c.alert_id == alert_id,
            notifications.c.person_id == person_id,
            notifications.c.step < step,
        )
    )
    later = (
        await connection.execute(
            sa.select(escalation_steps.c.targets)
            .where(
                escalation_steps.c.alert_id == alert_id,
                escalation_steps.c.step > step,
                escalation_steps.c.status == "pending",
            )
            .order_by(escalation_steps.c.step)
        )
    ).scalars()
    return notice_for(
        deps.rota,
        person_id,
        int(earlier or 0),
        [tuple(filter(None, targets.split(","))) for targets in later],
        deps.clock.now(),
    )


async def _insert_notification(
    connection: AsyncConnection,
    deps: NotifierDeps,
    alert: sa.Row[Any],
    step: int,
    person: Person,
    kind: ChannelKind,
    notice: Notice,
) -> None:
    """Insert, ignoring only the step's own duplicate. A new code that happens to equal one already
    issued conflicts too (a unique constraint): then the notification gets a fresh code, never
    dropped. Checking which conflict it was, rather than naming one constraint, keeps the
    transaction usable on PostgreSQL (a failed INSERT would abort it)."""
    for _ in range(CODE_ATTEMPTS):
        inserted = await connection.execute(
            insert_ignoring_duplicates(connection, notifications).values(
                **notification_values(deps, alert, step, person, kind, notice)
            )
        )
        if inserted.rowcount:
            return
        already = (
            await connection.execute(
                sa.select(notifications.c.notification_id).where(
                    notifications.c.alert_id == alert.alert_id,
                    notifications.c.step == step,
                    notifications.c.person_id == person.id,
                    notifications.c.channel == kind.value,
                )
            )
        ).first()
        if already is not None:
            return  # this step was fired before: nothing new to send
        log.warning("ack_code_collision", alert_id=alert.alert_id, step=step)
    # 60-bit codes: a collision is about 1e-13 likely, ten in a row is impossible short of a broken
    # generator. Fail loudly: the step stays pending (this transaction rolls back) and fires again.
    raise RuntimeError("could not draw an unused acknowledgement code")


def notification_values(
    deps: NotifierDeps,
    alert: sa.Row[Any],
    step: int,
    person: Person,
    kind: ChannelKind,
    notice: Notice,
) -> dict[str, Any]:
    """A notification row: the message rendered for this channel, with its own ack code and a
    signed link for this person; a reminder says which notice it is (`notice_for_person`)."""
    now = deps.clock.now()
    code = new_ack_code()
    token = make_token(
        deps.ack_secret,
        str(alert.alert_id),
        person.id,
        now + timedelta(hours=deps.policy.ack_link_hours),
    )
    fields = json.loads(str(alert.fields)) | {
        "ack_link": f"{deps.public_url}/ack/{token}",
        "ack_code": code,
    }
    message = render_message(
        deps.policy.templates[alert.kind], fields, kind, renotify_prefix(deps.policy, notice)
    )
    return {
        "notification_id": str(uuid.uuid4()),
        "alert_id": alert.alert_id,
        "step": step,
        "person_id": person.id,
        "channel": kind.value,
        "ack_code": code,
        "ack_expires_at": now + deps.ack_code_ttl,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "title": message.title,
        "body": message.body,
        "created_at": now,
        "trace_context": alert.trace_context,  # each send is a span in the alert's trace
    }
