"""Raising alerts: one transaction records the alert, its snapshotted escalation steps, the
first step's notifications (when it is due at once) and the event, with the consumed event's id,
so a redelivered event raises nothing new. Once it has committed, `announce` counts it, starts its
sends and tells the clock when its next step is due."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.adapters.tables import (
    alert_attachments,
    alerts,
    burst_batches,
    escalation_steps,
    outbox,
    processed_events,
)
from services.notifier.deps import PRODUCER, NotifierDeps
from services.notifier.domain import grouped_fields, plan_steps, referral_fields
from services.notifier.escalating import AlertFacts, fire_first_step
from services.notifier.policy import Target
from services.notifier.ports import Attachment
from shared.clock import LONDON
from shared.db import checked_rows, claim_event, insert_row_ignoring_duplicates
from shared.events import (
    AgendaPublishedV1,
    AlertRaisedV1,
    ChildReferralOpenedV1,
    CriminalJusticeReminderV1,
    ReferralFollowUpDueV1,
    ReferralOpenedV1,
    TaskOverdueV1,
    Urgency,
)
from shared.job_lock import one_at_a_time
from shared.logging import get_logger
from shared.outbox import enqueue
from shared.tracing import capture_context

log = get_logger(__name__)


async def raise_for_referral(
    event: ReferralOpenedV1 | ChildReferralOpenedV1, deps: NotifierDeps
) -> str:
    """Returns what happened: raised, grouped (waiting in a burst batch) or duplicate."""
    now = deps.clock.now()
    child = isinstance(event, ChildReferralOpenedV1)
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return "duplicate"
        joinable = isinstance(event, ReferralOpenedV1) and event.urgency is not Urgency.IMMEDIATE
        joined = None
        if joinable and event.operation_group:
            joined = await _join_burst(connection, event, deps, now)
        raised = None
        if joined is None:
            first_targets = (
                (Target.CHILDRENS_SAFEGUARDING.value, Target.COORDINATOR.value) if child else ()
            )
            raised = await raise_alert(
                connection,
                deps,
                kind="child_referral" if child else "referral",
                subject_key=event.case_reference,
                urgency=event.urgency,
                fields=referral_fields(event, deps.rota.timezone),
                correlation_id=event.correlation_id,
                case_references=(event.case_reference,),
                operation_group=event.operation_group,
                first_targets=first_targets,
            )
    if joined is not None:
        # The clock closes the batch on time. Told on every join, not only when a batch opens:
        # a batch the clock was closing as this case joined it (the close then matches nothing)
        # is overdue, and is sent at once with this case rather than at the next poll.
        deps.timer_set(joined.closes_at)
        return "grouped"
    announce(deps, raised)  # a redelivered event claimed nothing and raised nothing
    return "raised" if raised else "duplicate"


@dataclass(frozen=True)
class Grouped:
    """A case waiting in its operation's batch, which is sent at `closes_at`."""

    closes_at: datetime


async def _join_burst(
    connection: AsyncConnection,
    event: ReferralOpenedV1 | ChildReferralOpenedV1,
    deps: NotifierDeps,
    now: datetime,
) -> Grouped | None:
    """A raid: if this operation already alerted within the window, wait in the operation's batch
    for one grouped follow-up instead of a separate page. None if the case is paged on its own."""
    bursts = deps.policy.bursts
    # One instance at a time per operation, to the transaction's end: two notifiers reading the
    # same batch would each write back their own list of cases (one case lost, never paged), and
    # two finding none would each open a batch. The second waits, then reads what the first
    # committed: its alert, or the batch with its case.
    await one_at_a_time(connection, f"notifier.burst:{event.operation_group}")
    recent = (
        await connection.execute(
            sa.select(alerts.c.alert_id).where(
                alerts.c.operation_group == event.operation_group,
                alerts.c.raised_at >= now - timedelta(minutes=bursts.window_minutes),
            )
        )
    ).first()
    if recent is None:
        return None
    batch = (
        await connection.execute(
            sa.select(burst_batches).where(
                burst_batches.c.operation_group == event.operation_group,
                burst_batches.c.status == "collecting",
            )
        )
    ).first()
    joined = False
    recorded_at = event.recorded_at.isoformat()
    if batch is not None:
        references = [*batch.case_references.split(","), event.case_reference]
        times = json.loads(batch.contact_times or "{}") | {event.case_reference: recorded_at}
        # Compare-and-set: if flush_bursts sent this batch since it was read, the update matches
        # nothing and the case starts a new batch instead of joining one already sent (where it
        # would never be paged).
        joined = (
            await connection.execute(
                burst_batches.update()
                .where(
                    burst_batches.c.batch_id == batch.batch_id,
                    burst_batches.c.status == "collecting",
                )
                .values(
                    case_references=",".join(dict.fromkeys(references)),
                    contact_times=json.dumps(times, sort_keys=True),
                )
            )
        ).rowcount == 1
    if joined and batch is not None:  # (joined is only ever true with a batch)
        closes_at: datetime = batch.send_at
    else:
        closes_at = now + timedelta(minutes=bursts.batch_minutes)
        await connection.execute(
            burst_batches.insert().values(
                batch_id=str(uuid.uuid4()),
                operation_group=event.operation_group,
                case_references=event.case_reference,
                contact_times=json.dumps({event.case_reference: recorded_at}),
                district=event.district.value,
                operation=event.operation or "",
                urgency=event.urgency.value,
                correlation_id=event.correlation_id,
                send_at=closes_at,
                status="collecting",
            )
        )
    log.info(
        "referral_grouped",
        case_reference=event.case_reference,
        operation_group=event.operation_group,
    )
    return Grouped(closes_at)


async def flush_bursts(deps: NotifierDeps) -> int:
    """Turn every batch whose time has come into one grouped alert."""
    now = deps.clock.now()
    sent = 0
    raised: list[RaisedAlert | None] = []  # announced once the transaction has committed
    async with deps.engine.begin() as connection:
        due = (
            await connection.execute(
                sa.select(burst_batches)
                .where(burst_batches.c.status == "collecting", burst_batches.c.send_at <= now)
                # One order in every instance: two notifiers closing the same batches lock them
                # in the same order, so one waits for the other rather than deadlocking.
                .order_by(burst_batches.c.batch_id)
            )
        ).all()
        for batch in due:
            # Close the batch first, and only as it was read: a case that joined it meanwhile
            # makes this match nothing, and the batch is sent on the next pass with that case.
            closed = await connection.execute(
                burst_batches.update()
                .where(
                    burst_batches.c.batch_id == batch.batch_id,
                    burst_batches.c.status == "collecting",
                    burst_batches.c.case_references == batch.case_references,
                )
                .values(status="sent")
            )
            if closed.rowcount != 1:
                continue
            times = json.loads(batch.contact_times or "{}")
            fields = grouped_fields(
                [
                    (
                        reference,
                        datetime.fromisoformat(times[reference]) if reference in times else None,
                    )
                    for reference in batch.case_references.split(",")
                ],
                batch.operation,
                batch.district,
                batch.urgency,
            )
            references = tuple(fields["case_references"].split(", "))
            raised.append(await raise_alert(
                connection,
                deps,
                kind="grouped",
                subject_key=batch.batch_id,
                urgency=Urgency(batch.urgency),
                fields=fields,
                correlation_id=batch.correlation_id,
                case_references=references,
                operation_group=batch.operation_group,
            ))  # fmt: skip
            sent += 1
    announce(deps, *raised)
    return sent


async def raise_for_overdue_task(event: TaskOverdueV1, deps: NotifierDeps) -> None:
    """`due` goes to the assignee (or whoever is on duty), `escalated` to the head of service."""
    target = (
        Target.HEAD_OF_SERVICE.value
        if event.threshold == "escalated"
        else (f"person:{event.assignee}" if event.assignee else Target.ON_DUTY.value)
    )
    detail = f"{event.kind.replace('_', ' ')} was due {event.due_at:%H:%M %d %b %Y} UTC"
    await _remind(event, deps, "reminder", f"{event.task_id}:{event.threshold}", detail, target)


async def raise_for_booking_reminder(event: CriminalJusticeReminderV1, deps: NotifierDeps) -> None:
    """Support at an interview or court is booked: remind the case's advisor (else whoever is on
    duty). One alert per booking and offset (its subject key), however often the event comes."""
    target = f"person:{event.assignee}" if event.assignee else Target.ON_DUTY.value
    when = event.booked_at.astimezone(LONDON)
    detail = f"{event.booking_kind} at {when:%H:%M on %d %b %Y} (UK time)"
    subject = f"{event.booking_id}:{event.before}"
    await _remind(event, deps, "booking_reminder", subject, detail, target)


async def raise_for_referral_follow_up(event: ReferralFollowUpDueV1, deps: NotifierDeps) -> None:
    """An onward referral has had no answer for the configured working days: remind the task's
    advisor (else whoever is on duty). One alert per referral (its subject key), however often
    the event comes."""
    target = f"person:{event.assignee}" if event.assignee else Target.ON_DUTY.value
    organisation = event.organisation_id or event.organisation_name or "an organisation"
    need = event.kind.replace("_", " ")
    detail = f"{need} referral to {organisation} made {event.made_on:%d %b %Y}"
    subject = f"referral:{event.referral_id}"
    await _remind(event, deps, "referral_follow_up", subject, detail, target)


async def _remind(
    event: TaskOverdueV1 | CriminalJusticeReminderV1 | ReferralFollowUpDueV1,
    deps: NotifierDeps,
    kind: str,
    subject_key: str,
    detail: str,
    target: str,
) -> None:
    """One message about a case to one target, no escalation: once per (kind, subject_key)."""
    async with deps.engine.begin() as connection:
        if not await claim_event(
            connection, processed_events, str(event.event_id), deps.clock.now()
        ):
            return
        raised = await raise_alert(
            connection,
            deps,
            kind=kind,
            subject_key=subject_key,
            urgency=Urgency.PRIORITY,
            fields={"case_reference": event.case_reference, "detail": detail},
            correlation_id=event.correlation_id,
            case_references=(event.case_reference,),
            single_step=(target,),
        )
    announce(deps, raised)


async def raise_for_agenda(event: AgendaPublishedV1, deps: NotifierDeps) -> None:
    """The coordinator gets the agenda by email with its files attached."""
    import base64

    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return
        raised = await raise_alert(
            connection,
            deps,
            kind="agenda",
            subject_key=f"{event.meeting_series}:{event.meeting_starts_at.isoformat()}:v{event.version}",
            urgency=Urgency.ROUTINE,
            fields={"detail": f"{event.title}, {event.meeting_starts_at:%d %b %Y}" + (
                f" (revision {event.version})" if event.version > 1 else "")},
            correlation_id=event.correlation_id,
            case_references=(),
            single_step=agenda_recipients(event.recipients),
            attachments=tuple(
                Attachment(item.filename, item.content_type, base64.b64decode(item.content_base64))
                for item in event.attachments
            ),
        )  # fmt: skip
    announce(deps, raised)


def agenda_recipients(wanted: tuple[str, ...]) -> tuple[str, ...]:
    """Roles and person:<id> from the event; anything else is dropped (the coordinator remains)."""
    roles = {target.value for target in Target}
    chosen = tuple(item for item in wanted if item in roles or item.startswith("person:"))
    return chosen or (Target.COORDINATOR.value,)


async def raise_alert(
    connection: AsyncConnection,
    deps: NotifierDeps,
    *,
    kind: str,
    subject_key: str,
    urgency: Urgency,
    fields: dict[str, str],
    correlation_id: str,
    case_references: tuple[str, ...],
    operation_group: str | None = None,
    first_targets: tuple[str, ...] = (),
    single_step: tuple[str, ...] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> RaisedAlert | None:
    """Record an alert, its steps and, if due now, its first step's notifications; None if one
    exists for the same subject already. The caller announces it once committed (`announce`)."""
    now = deps.clock.now()
    facts = AlertFacts(
        alert_id=str(uuid.uuid4()),
        kind=kind,
        urgency=urgency.value,
        fields=json.dumps(fields, sort_keys=True),
        # The consumer's span: each step's sends, the first now and the rest fired later by a
        # timer, are spans inside it.
        trace_context=capture_context(),
    )
    alert_id = facts.alert_id
    inserted = await insert_row_ignoring_duplicates(
        connection,
        alerts,
        {
            "alert_id": alert_id,
            "kind": kind,
            "subject_key": subject_key,
            "case_reference": case_references[0] if len(case_references) == 1 else None,
            "operation_group": operation_group,
            "urgency": facts.urgency,
            "status": "open",
            "fields": facts.fields,
            "correlation_id": correlation_id,
            "raised_at": now,
            "trace_context": facts.trace_context,
        },
    )
    if not inserted.rowcount:
        return None
    if single_step is not None:
        steps = [(0, now, single_step)]
    else:
        steps = [
            (p.step, p.due_at, p.targets)
            for p in plan_steps(deps.policy, urgency, now, first_targets)
        ]
    fired = await fire_first_step(connection, deps, facts, steps)
    if steps:
        # Every step in one call, as executemany: a multi-row .values([...]) has no cache key,
        # so SQLAlchemy compiled it afresh for every alert (bench.profile).
        await connection.execute(
            escalation_steps.insert(),
            checked_rows(
                escalation_steps,
                [
                    {
                        "alert_id": alert_id,
                        "step": number,
                        "due_at": due_at,
                        "targets": ",".join(targets),
                        **(
                            {"status": "fired", "fired_at": now}
                            if fired and number == 0
                            else {"status": "pending", "fired_at": None}
                        ),
                    }
                    for number, due_at, targets in steps
                ],
            ),
        )
    for item in attachments:
        await connection.execute(
            alert_attachments.insert().values(
                alert_id=alert_id,
                filename=item.filename,
                content_type=item.content_type,
                content=item.content,
            )
        )
    await enqueue(
        connection,
        outbox,
        deps.alerts_topic,
        subject_key,
        AlertRaisedV1(
            occurred_at=now,
            correlation_id=correlation_id,
            producer=PRODUCER,
            alert_id=alert_id,
            kind=kind,
            urgency=urgency,
            case_references=case_references,
        ),
    )
    log.info("alert_raised", alert_id=alert_id, kind=kind, urgency=urgency.value, steps=len(steps))
    pending = [due_at for number, due_at, _ in steps if not (fired and number == 0)]
    return RaisedAlert(alert_id, urgency, fired, min(pending, default=None))


@dataclass(frozen=True)
class RaisedAlert:
    alert_id: str
    urgency: Urgency
    first_step_fired: bool  # its notifications are waiting for the dispatcher
    next_step_at: datetime | None  # when its first pending step falls due


def announce(deps: NotifierDeps, *raised: RaisedAlert | None) -> None:
    """After the raising transaction has committed (a rollback raised nothing to count or send):
    count the alerts, publish their AlertRaisedV1, start the first step's sends, and tell the
    clock when the next step is due. None stands for an alert that already existed: nothing new."""
    for alert in filter(None, raised):
        deps.metrics.raised(alert.urgency.value)
        deps.wake_outbox()
        if alert.first_step_fired:
            deps.metrics.step_fired(0)
            deps.wake_dispatch()
        if alert.next_step_at is not None:
            deps.timer_set(alert.next_step_at)
