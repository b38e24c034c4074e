"""Criminal-justice support use cases: record a case's engagement (validated, with an append-only
history and the configured task), read it, and remind the case's advisor before a booked date,
once per booking and offset (services/casework/criminal_justice.py has the rules).

Only states, booking kinds, instants, ids and staff ids are stored or published: never any content
of what the person said (there is no field that could hold it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.casework.adapters.criminal_justice_tables import (
    criminal_justice,
    criminal_justice_history,
    criminal_justice_reminders,
)
from services.casework.adapters.tables import case_owners, cases, outbox, task_history, tasks
from services.casework.criminal_justice import (
    Booking,
    Engagement,
    EngagementPolicy,
    EngagementRefused,
    check_change,
    reminders_due,
)
from services.casework.handlers import PRODUCER, SYSTEM, CaseworkDeps
from services.casework.lifecycle import Status
from services.casework.queries import Viewer, visible_to
from shared.db import insert_ignoring_duplicates
from shared.events import CriminalJusticeReminderV1, OpenedTask, TasksOpenedV1
from shared.logging import get_logger
from shared.outbox import enqueue
from shared.rota import on_duty

log = get_logger(__name__)


class CaseNotFound(LookupError):
    pass


async def case_visible(engine: AsyncEngine, viewer: Viewer, case_reference: str) -> bool:
    """The case exists and the viewer may see it: the head of service always; an advisor if they
    took the case or may see one of its tasks (their own or an unassigned one), as for tasks."""
    async with engine.connect() as connection:
        known = await connection.scalar(
            sa.select(sa.func.count()).where(cases.c.case_reference == case_reference)
        )
        if not known:
            return False
        if viewer.sees_all:
            return True
        owner = await connection.scalar(
            sa.select(case_owners.c.person_id).where(case_owners.c.case_reference == case_reference)
        )
        if owner == viewer.person_id:
            return True
        seen = await connection.scalar(
            sa.select(sa.func.count()).where(
                tasks.c.case_reference == case_reference, visible_to(viewer)
            )
        )
        return bool(seen)


async def engagement_of(engine: AsyncEngine, case_reference: str) -> dict[str, Any]:
    """The case's engagement now (not_yet_asked when nothing was recorded), its booking if support
    is booked, and every change, oldest first."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(criminal_justice).where(
                    criminal_justice.c.case_reference == case_reference
                )
            )
        ).first()
        history = (
            await connection.execute(
                sa.select(criminal_justice_history)
                .where(criminal_justice_history.c.case_reference == case_reference)
                .order_by(criminal_justice_history.c.id)
            )
        ).all()
    booking = None
    if row is not None and row.state == Engagement.SUPPORT_BOOKED.value:
        booking = {
            "booking_id": row.booking_id,
            "kind": row.booking_kind,
            "booked_at": row.booked_at,
        }
    return {
        "case_reference": case_reference,
        "state": row.state if row else Engagement.NOT_YET_ASKED.value,
        "booking": booking,
        "updated_at": row.updated_at if row else None,
        "updated_by": row.updated_by if row else None,
        "history": [
            {
                "at": item.at, "actor": item.actor, "from_state": item.from_state,
                "to_state": item.to_state, "booking_id": item.booking_id,
                "booking_kind": item.booking_kind, "booked_at": item.booked_at,
            }
            for item in history
        ],
    }  # fmt: skip


async def record_engagement(
    deps: CaseworkDeps,
    policy: EngagementPolicy,
    case_reference: str,
    state: Engagement,
    booking: Booking | None,
    actor: str,
) -> dict[str, Any]:
    """Validate and record a change; open the configured task for the new state (once per case
    and kind, like every task). Raises CaseNotFound or EngagementRefused."""
    now = deps.clock.now()
    opened: list[str] = []
    async with deps.engine.begin() as connection:
        known = await connection.scalar(
            sa.select(sa.func.count()).where(cases.c.case_reference == case_reference)
        )
        if not known:
            raise CaseNotFound(case_reference)
        current_row = (
            await connection.execute(
                sa.select(criminal_justice.c.state).where(
                    criminal_justice.c.case_reference == case_reference
                )
            )
        ).first()
        current = Engagement(current_row.state) if current_row else Engagement.NOT_YET_ASKED
        check_change(current, state, booking, now)
        values: dict[str, Any] = {
            "state": state.value,
            "booking_id": str(uuid.uuid4()) if booking else None,
            "booking_kind": booking.kind.value if booking else None,
            "booked_at": booking.at if booking else None,
            "updated_at": now,
            "updated_by": actor,
        }
        # Guarded on the state read above: of two changes racing from the same state, one wins
        # and the other is refused (409), so the history never skips a step.
        if current_row is None:
            changed = await connection.execute(
                insert_ignoring_duplicates(connection, criminal_justice).values(
                    case_reference=case_reference, **values
                )
            )
        else:
            changed = await connection.execute(
                criminal_justice.update()
                .where(
                    criminal_justice.c.case_reference == case_reference,
                    criminal_justice.c.state == current.value,
                )
                .values(**values)
            )
        if changed.rowcount != 1:
            raise EngagementRefused("the engagement was changed meanwhile: read it again")
        await connection.execute(
            criminal_justice_history.insert().values(
                case_reference=case_reference, from_state=current.value, to_state=state.value,
                booking_id=values["booking_id"], booking_kind=values["booking_kind"],
                booked_at=values["booked_at"], actor=actor, at=now,
            )
        )  # fmt: skip
        planned = policy.task_on_entering(state, now)
        if planned is not None and await _open_task(
            connection, deps, case_reference, planned.kind, planned.due_at, now
        ):
            opened.append(planned.kind)
    deps.metrics.opened(opened)
    deps.on_commit()
    log.info("criminal_justice_recorded", state=state.value, tasks_opened=len(opened))
    return await engagement_of(deps.engine, case_reference)


async def _case_advisor(connection: AsyncConnection, case_reference: str) -> str | None:
    """Whoever took the case (acknowledged its alert), else the assignee of its latest task."""
    owner = await connection.scalar(
        sa.select(case_owners.c.person_id).where(case_owners.c.case_reference == case_reference)
    )
    if owner:
        return str(owner)
    latest = await connection.scalar(
        sa.select(tasks.c.assignee)
        .where(tasks.c.case_reference == case_reference, tasks.c.assignee.is_not(None))
        .order_by(tasks.c.created_at.desc(), tasks.c.task_id)
        .limit(1)
    )
    return str(latest) if latest else None


async def _open_task(
    connection: AsyncConnection,
    deps: CaseworkDeps,
    case_reference: str,
    kind: str,
    due_at: datetime,
    now: datetime,
) -> bool:
    owner = await connection.scalar(
        sa.select(case_owners.c.person_id).where(case_owners.c.case_reference == case_reference)
    )
    assignee, assigned_by = (
        (owner, "acknowledged") if owner else (on_duty(deps.rota, now).id, "on_duty")
    )
    task_id = str(uuid.uuid4())
    inserted = await connection.execute(
        insert_ignoring_duplicates(connection, tasks).values(
            task_id=task_id, case_reference=case_reference, kind=kind, status=Status.OPEN.value,
            due_at=due_at, created_at=now, assignee=assignee, assigned_by=assigned_by,
            updated_at=now,
        )
    )  # fmt: skip
    if not inserted.rowcount:  # the case has had this task before: one task of a kind per case
        return False
    await connection.execute(
        task_history.insert().values(
            task_id=task_id, actor=SYSTEM, change="opened", from_value=None,
            to_value=Status.OPEN.value, detail=f"assigned to {assignee}", at=now,
        )
    )  # fmt: skip
    await enqueue(
        connection, outbox, deps.tasks_topic, case_reference,
        TasksOpenedV1(
            occurred_at=now, correlation_id=case_reference, producer=PRODUCER,
            case_reference=case_reference,
            tasks=(OpenedTask(task_id=task_id, kind=kind, due_at=due_at),),
        ),
    )  # fmt: skip
    return True


async def remind_bookings(deps: CaseworkDeps, policy: EngagementPolicy) -> int:
    """Publish CriminalJusticeReminderV1 for each booking whose reminder time has come. Each
    (booking, offset) is claimed in the transaction that enqueues the event, so a restart neither
    repeats nor skips one. A booking made at short notice, with several offsets already past,
    sends only the nearest (the others are claimed as overtaken, not sent)."""
    if not policy.reminders:
        return 0
    now = deps.clock.now()
    ahead = sa.and_(
        criminal_justice.c.state == Engagement.SUPPORT_BOOKED.value,
        criminal_justice.c.booked_at > now,
    )
    async with deps.engine.connect() as connection:
        booked = (await connection.execute(sa.select(criminal_justice).where(ahead))).all()
        # The offsets already claimed, read once: each booking in its reminder window would
        # otherwise cost a write transaction (and on SQLite an fsync) every pass. The claims
        # below still decide, should another instance remind of the same booking meanwhile.
        claimed_before = {
            (row.booking_id, row.offset_key)
            for row in await connection.execute(
                sa.select(
                    criminal_justice_reminders.c.booking_id,
                    criminal_justice_reminders.c.offset_key,
                )
                .join(
                    criminal_justice,
                    criminal_justice.c.booking_id == criminal_justice_reminders.c.booking_id,
                )
                .where(ahead)
            )
        }
    sent = 0
    for row in booked:
        due = reminders_due(policy.reminders, row.booked_at, now)
        if not due or all((row.booking_id, offset.key) in claimed_before for offset in due):
            continue
        async with deps.engine.begin() as connection:
            nearest_is_new = False
            for offset in due:
                nearest = offset is due[-1]
                claimed = await connection.execute(
                    insert_ignoring_duplicates(connection, criminal_justice_reminders).values(
                        booking_id=row.booking_id, offset_key=offset.key,
                        case_reference=row.case_reference, sent=nearest, claimed_at=now,
                    )
                )  # fmt: skip
                nearest_is_new = nearest and bool(claimed.rowcount)
            if not nearest_is_new:
                continue
            await enqueue(
                connection, outbox, deps.tasks_topic, row.case_reference,
                CriminalJusticeReminderV1(
                    occurred_at=now, correlation_id=row.case_reference, producer=PRODUCER,
                    case_reference=row.case_reference, booking_id=row.booking_id,
                    booking_kind=row.booking_kind, booked_at=row.booked_at,
                    before=due[-1].key,
                    assignee=await _case_advisor(connection, row.case_reference),
                ),
            )  # fmt: skip
            sent += 1
    if sent:
        deps.on_commit()
        log.info("criminal_justice_reminders_sent", reminders=sent)
    return sent
