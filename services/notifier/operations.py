"""Police operations announced ahead (#15 part 3): intake publishes `OperationAnnouncedV1` (a new
version for each change); here the rota is checked for the operation's window and the people who
must act are told.

- The head of service is warned at once when nobody is on duty for part of the window, or when
  more potential victims are expected than `operation_expected_threshold` (alerting.yaml). Once
  per operation, window and reason: a re-announcement warns again only when the window moved or
  a reason arose that was not warned of for that window.
- The advisor on duty at the operation's start is reminded `operation_reminder_hours` before it
  (the day and the hour before). The reminders are rows (durable timers, like escalation steps):
  the notifier's clock sends each once, whichever process and however often it restarts. A moved
  window cancels the old reminders and plans new ones; a reminder whose time has passed when the
  operation is announced is skipped, except the last one (the hour before), sent at once.

Referrals that arrive under the operation are grouped as before (raising.py, bursts): the
operation group is the one intake gives its contacts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.adapters.tables import (
    alerts,
    operation_plans,
    operation_reminders,
    processed_events,
)
from services.notifier.deps import NotifierDeps
from services.notifier.domain import district_name
from services.notifier.policy import Target
from services.notifier.raising import RaisedAlert, announce, raise_alert
from shared.clock import LONDON
from shared.db import claim_event, insert_ignoring_duplicates
from shared.events import OperationAnnouncedV1, Urgency
from shared.logging import get_logger
from shared.rota import Rota, find_gaps, scheduled

log = get_logger(__name__)


def uncovered(rota: Rota, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) with nobody on duty, clipped to the window. Sampled every 15
    minutes like the rota's gap check (shared/rota.py find_gaps), plus the window's own first
    instant, so a gap shorter than a sample step at the start is not missed."""
    gaps = [(max(s, start), min(e, end)) for s, e in find_gaps(rota, start, end)]
    gaps = [(s, e) for s, e in gaps if s < e]
    if scheduled(rota, start) is None and not any(s <= start < e for s, e in gaps):
        gaps.insert(0, (start, min(end, start + timedelta(minutes=15))))
    return gaps


def warning_reasons(
    rota: Rota, event: OperationAnnouncedV1, threshold: int
) -> tuple[list[tuple[datetime, datetime]], bool]:
    """(the uncovered stretches of the window, whether more are expected than the threshold)."""
    return uncovered(rota, event.starts_at, event.ends_at), event.expected_victims > threshold


def window_text(start: datetime, end: datetime) -> str:
    """UK time, as people read it: "14:00 Tue 01 Dec to 02:00 Wed 02 Dec"."""
    return f"{start.astimezone(LONDON):%H:%M %a %d %b} to {end.astimezone(LONDON):%H:%M %a %d %b}"


def before_text(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "in 1 hour" if hours == 1 else f"in {hours} hours"
    return f"in {minutes} minutes"


async def on_operation_announced(event: OperationAnnouncedV1, deps: NotifierDeps) -> str:
    """Returns what happened: duplicate, stale (an older version), or planned."""
    now = deps.clock.now()
    policy = deps.policy
    warning = None
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return "duplicate"
        if not await _keep_latest(connection, event):
            return "stale"
        gaps, many = warning_reasons(deps.rota, event, policy.operation_expected_threshold)
        if gaps or many:
            warning = await _warn_head_of_service(connection, deps, event, gaps, many)
        await _plan_reminders(connection, deps, event, now)
    announce(deps, warning)
    deps.wake_scheduler()  # its reminders are new timers
    log.info(
        "operation_planned",
        operation_group=event.operation_group,
        version=event.version,
        uncovered=len(gaps),
        over_threshold=many,
    )
    return "planned"


async def _keep_latest(connection: AsyncConnection, event: OperationAnnouncedV1) -> bool:
    """Store this version unless a later one is held (versions may arrive out of order after a
    replay). False: an older version, nothing to do."""
    values = {
        "operation": event.operation,
        "district": event.district.value,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "expected_victims": event.expected_victims,
        "version": event.version,
    }
    inserted = await connection.execute(
        insert_ignoring_duplicates(connection, operation_plans).values(
            operation_group=event.operation_group, **values
        )
    )
    if inserted.rowcount:
        return True
    updated = await connection.execute(
        operation_plans.update()
        .where(
            operation_plans.c.operation_group == event.operation_group,
            operation_plans.c.version < event.version,
        )
        .values(**values)
    )
    return bool(updated.rowcount)


async def _warn_head_of_service(
    connection: AsyncConnection,
    deps: NotifierDeps,
    event: OperationAnnouncedV1,
    gaps: list[tuple[datetime, datetime]],
    many: bool,
) -> RaisedAlert | None:
    """Warned once per operation, window and reason: a re-announcement of the same window warns
    again only of a reason not warned of before (the subject key names the window and reasons)."""
    window = f"{int(event.starts_at.timestamp())}-{int(event.ends_at.timestamp())}"
    prefix = f"{event.operation_group}|{window}|"
    warned: set[str] = set()
    for key in await connection.scalars(
        sa.select(alerts.c.subject_key).where(
            alerts.c.kind == "operation_warning",
            alerts.c.operation_group == event.operation_group,
        )
    ):
        if key.startswith(prefix):
            warned.update(key.removeprefix(prefix).split("+"))
    gaps = gaps if "gap" not in warned else []
    many = many and "many" not in warned
    if not gaps and not many:
        return None
    needs = []
    if gaps:
        needs.append("nobody on duty " + ", ".join(window_text(s, e) for s, e in gaps))
    if many:
        threshold = deps.policy.operation_expected_threshold
        needs.append(f"more potential victims expected than {threshold}")
    detail = f"{window_text(event.starts_at, event.ends_at)}: {', and '.join(needs)}"
    reasons = "+".join(("gap",) * bool(gaps) + ("many",) * many)
    return await raise_alert(
        connection,
        deps,
        kind="operation_warning",
        subject_key=prefix + reasons,
        urgency=Urgency.PRIORITY,
        fields={
            "operation": event.operation,
            "district": district_name(event.district.value),
            "detail": detail,
            "count": str(event.expected_victims),
        },
        correlation_id=event.correlation_id,
        case_references=(),
        operation_group=event.operation_group,
        single_step=(Target.HEAD_OF_SERVICE.value,),
    )


async def _plan_reminders(
    connection: AsyncConnection, deps: NotifierDeps, event: OperationAnnouncedV1, now: datetime
) -> None:
    # A moved start: the old reminders are for a time nobody will be there.
    await connection.execute(
        operation_reminders.update()
        .where(
            operation_reminders.c.operation_group == event.operation_group,
            operation_reminders.c.starts_at != event.starts_at,
            operation_reminders.c.status == "pending",
        )
        .values(status="cancelled")
    )
    # Moved back to a start cancelled before: plan its reminders afresh (below).
    await connection.execute(
        operation_reminders.delete().where(
            operation_reminders.c.operation_group == event.operation_group,
            operation_reminders.c.starts_at == event.starts_at,
            operation_reminders.c.status == "cancelled",
        )
    )
    offsets = sorted({round(hours * 60) for hours in deps.policy.operation_reminder_hours})
    for index, minutes in enumerate(offsets):
        due = event.starts_at - timedelta(minutes=minutes)
        if due < now:
            if index != 0 or event.starts_at <= now:
                continue  # past: only the last reminder before the start is still worth sending
            due = now
        await connection.execute(
            insert_ignoring_duplicates(connection, operation_reminders).values(
                operation_group=event.operation_group,
                starts_at=event.starts_at,
                before_minutes=minutes,
                due_at=due,
                status="pending",
            )
        )


async def send_due_operation_reminders(deps: NotifierDeps) -> int:
    """The notifier's clock calls this every pass: each due reminder becomes one alert to the
    advisor on duty at the operation's start (the head of service if nobody is), exactly once."""
    now = deps.clock.now()
    async with deps.engine.connect() as connection:
        due = (
            await connection.execute(
                sa.select(operation_reminders)
                .where(
                    operation_reminders.c.status == "pending", operation_reminders.c.due_at <= now
                )
                .order_by(operation_reminders.c.due_at)
                .limit(100)
            )
        ).all()
    sent = 0
    for reminder in due:
        async with deps.engine.begin() as connection:
            claimed = await connection.execute(
                operation_reminders.update()
                .where(
                    operation_reminders.c.operation_group == reminder.operation_group,
                    operation_reminders.c.starts_at == reminder.starts_at,
                    operation_reminders.c.before_minutes == reminder.before_minutes,
                    operation_reminders.c.status == "pending",
                )
                .values(status="sent")
            )
            if claimed.rowcount != 1:
                continue  # another process sent it, or a moved window cancelled it
            plan = (
                await connection.execute(
                    sa.select(operation_plans).where(
                        operation_plans.c.operation_group == reminder.operation_group
                    )
                )
            ).one()
            person = scheduled(deps.rota, reminder.starts_at)
            target = f"person:{person.id}" if person else Target.HEAD_OF_SERVICE.value
            minutes = reminder.before_minutes
            detail = f"{window_text(plan.starts_at, plan.ends_at)} (starts {before_text(minutes)})"
            raised = await raise_alert(
                connection,
                deps,
                kind="operation_reminder",
                subject_key=(
                    f"{plan.operation_group}|{int(reminder.starts_at.timestamp())}|{minutes}"
                ),
                urgency=Urgency.PRIORITY,
                fields={
                    "operation": plan.operation,
                    "district": district_name(plan.district),
                    "detail": detail,
                    "count": str(plan.expected_victims),
                },
                correlation_id=f"operation-{int(reminder.starts_at.timestamp())}-{minutes}",
                case_references=(),
                operation_group=plan.operation_group,
                single_step=(target,),
            )
        announce(deps, raised)  # after the commit above
        sent += raised is not None
    return sent
