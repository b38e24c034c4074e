"""Firing escalation steps: the durable timers. A step fires once, in the same transaction that
creates its notifications; a crash before the commit leaves it pending, a crash after it leaves it
fired with its notifications waiting for the dispatcher. Either way: exactly once.

An alert's first step, due the moment it is raised, fires in the raising transaction instead
(`fire_first_step`): the same guarantee with one transaction, not two, and no pass of the clock
between the contact and its page."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

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
from services.notifier.policy import TemplateKind
from shared.db import insert_row_ignoring_duplicates
from shared.events import AlertEscalatedV1, Urgency
from shared.logging import get_logger
from shared.outbox import enqueue
from shared.rota import ChannelKind, Person

log = get_logger(__name__)

CODE_ATTEMPTS = 10
STEPS_PER_PASS = 100
EMAIL_ONLY_KINDS = frozenset({"agenda", "funder_report"})  # their files travel by email only


@dataclass(frozen=True)
class AlertFacts:
    """What an alert's notifications are made from: read from its row, or the values it is being
    inserted with (its first step fires in that transaction, so there is nothing to read back)."""

    alert_id: str
    kind: str
    urgency: str
    fields: str  # the allow-listed fields, JSON
    trace_context: str | None

    @classmethod
    def of(cls, row: sa.Row[Any]) -> AlertFacts:
        return cls(str(row.alert_id), str(row.kind), str(row.urgency), str(row.fields),
                   row.trace_context)  # fmt: skip


async def fire_first_step(
    connection: AsyncConnection,
    deps: NotifierDeps,
    alert: AlertFacts,
    steps: Sequence[tuple[int, datetime, tuple[str, ...]]],
) -> bool:
    """In the raising transaction: make step 0's notifications if it is due now. The caller
    inserts the step as fired when this returns True (as pending otherwise, for the clock). A new
    alert has no earlier notices, and its later steps are the rest of `steps`, all pending: the
    notice needs no query."""
    now = deps.clock.now()
    if not steps or steps[0][0] != 0 or steps[0][1] > now:
        return False  # a routine alert raised out of hours waits for the clock
    # Leave or cover stored by another notifier process since this one's last clock pass pages
    # from this message on, as it would from the next pass's steps.
    rota = await deps.rota_book.refresh(now, connection)
    later = [targets for _, _, targets in steps[1:]]
    for person in resolve_targets(rota, steps[0][2], now):
        notice = notice_for(rota, person.id, 0, later, now)
        for kind in _channel_kinds(deps, alert, person):
            await _insert_notification(connection, deps, alert, 0, person, kind, notice)
    return True


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
    facts = AlertFacts.of(alert)
    for person in people:
        notice = await notice_for_person(connection, deps, alert_id, step, person.id)
        for kind in _channel_kinds(deps, facts, person):
            await _insert_notification(connection, deps, facts, step, person, kind, notice)
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


def _channel_kinds(
    deps: NotifierDeps, alert: AlertFacts, person: Person
) -> tuple[ChannelKind, ...]:
    """The person's channels for the alert's urgency; an agenda or report by email alone."""
    kinds = channels_for(person, deps.policy.channels[Urgency(alert.urgency)])
    if alert.kind in EMAIL_ONLY_KINDS:
        kinds = (
            tuple(kind for kind in person.channel_order() if kind is ChannelKind.EMAIL)[:1] or kinds
        )
    return kinds


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
    alert: AlertFacts,
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
        inserted = await insert_row_ignoring_duplicates(
            connection, notifications, notification_values(deps, alert, step, person, kind, notice)
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
    alert: AlertFacts,
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
    fields = json.loads(alert.fields) | {
        "ack_link": f"{deps.public_url}/ack/{token}",
        "ack_code": code,
    }
    # Every kind an alert is raised with has templates: the policy refuses to load otherwise.
    templates = deps.policy.templates[cast(TemplateKind, alert.kind)]
    message = render_message(templates, fields, kind, renotify_prefix(deps.policy, notice))
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
