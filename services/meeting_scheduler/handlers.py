"""Meeting scheduler use cases: put a referral on the right meeting; read an agenda."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import (
    agenda_items,
    case_advisors,
    case_tasks,
    manual_items,
    outbox,
    processed_events,
)
from services.meeting_scheduler.agenda import AgendaItem, AssignedAdvisor, OtherBusiness
from services.meeting_scheduler.calendar import MeetingCalendar, place_item
from services.meeting_scheduler.metrics import SchedulerMetrics
from services.meeting_scheduler.nasn import count_referral, record_referral
from services.meeting_scheduler.referral_outcomes import onward_referrals_for
from shared.clock import Clock
from shared.db import (
    checked_rows,
    claim_event,
    insert_ignoring_duplicates,
    insert_row_ignoring_duplicates,
)
from shared.events import (
    AgendaItemAddedV1,
    AlertAcknowledgedV1,
    ChildReferralOpenedV1,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    TaskClosedV1,
    TaskOpenedV1,
    TaskOverdueV1,
    TasksOpenedV1,
    Urgency,
)
from shared.logging import get_logger
from shared.outbox import enqueue
from shared.sqlite_driver import on_database_thread

log = get_logger(__name__)
SUPPORT_NEEDS = frozenset(need.value for need in SupportNeed)
PRODUCER = "meeting_scheduler"


@dataclass(frozen=True)
class SchedulerDeps:
    engine: AsyncEngine
    calendar: MeetingCalendar
    clock: Clock
    agenda_topic: str
    on_commit: Callable[[], None]
    metrics: SchedulerMetrics = field(default_factory=SchedulerMetrics.unregistered)


async def add_to_agenda(referral: ReferralOpenedV1, deps: SchedulerDeps) -> bool:
    """Adult referrals go to the case panel; a child's case goes to children's services instead.
    Either way the referral is counted for the NASN's summary, an adult's in the transaction that
    adds its item (one commit a referral, not two)."""
    if referral.pathway is Pathway.CHILD:
        await record_referral(referral, deps.engine)
        log.info("agenda_skipped_child_pathway", case_reference=referral.case_reference)
        return False
    now = deps.clock.now()
    series = deps.calendar.case_panel()
    placement = place_item(series, referral.occurred_at, referral.urgency is Urgency.IMMEDIATE)
    if placement is None:
        # Counted even so (the record is retried, and may end as a dead letter until the
        # calendar is extended): the NASN's and the funder's figures must not miss the case.
        await record_referral(referral, deps.engine)
        raise RuntimeError(f"series {series.id} has no upcoming meeting")
    added = False
    async with deps.engine.begin() as connection:
        # Counted before the claim: a referral whose item an earlier delivery added is still
        # counted (a second count of the same case adds nothing).
        await count_referral(connection, referral)
        if not await claim_event(connection, processed_events, str(referral.event_id), now):
            return False
        result = await insert_row_ignoring_duplicates(
            connection,
            agenda_items,
            {
                "item_id": str(uuid.uuid4()),
                "case_reference": referral.case_reference,
                "meeting_series": series.id,
                "meeting_starts_at": placement.starts_at,
                "district": referral.district.value,
                "exploitation_types": ",".join(item.value for item in referral.exploitation_types),
                "urgency": referral.urgency.value,
                "open_needs": ",".join(need.value for need in referral.support_needs),
                "late": placement.late,
                "added_at": now,
                "pathway": referral.pathway.value,
                "contacted_at": referral.recorded_at,
                "advisor_recorded": True,
            },
        )
        if result.rowcount:
            added = True
            await enqueue(
                connection,
                outbox,
                deps.agenda_topic,
                referral.case_reference,
                AgendaItemAddedV1(
                    occurred_at=now,
                    correlation_id=referral.correlation_id,
                    causation_id=str(referral.event_id),
                    producer=PRODUCER,
                    case_reference=referral.case_reference,
                    meeting_series=series.id,
                    meeting_starts_at=placement.starts_at,
                    late=placement.late,
                ),
            )
    if added:
        deps.metrics.added(series.id)  # committed; a redelivered referral claimed nothing
        deps.on_commit()
        log.info("agenda_item_added", case_reference=referral.case_reference,
                 meeting_starts_at=placement.starts_at.isoformat(), late=placement.late)  # fmt: skip
    return added


CHILD_WITHDRAWAL = "handed to children's services: the person is a child"


async def withdraw_child_case(referral: ChildReferralOpenedV1, deps: SchedulerDeps) -> int:
    """A case corrected to a child leaves the case panel: its items on meetings still to come are
    withdrawn (casework closes its adult tasks, so it is not carried over as a review either)."""
    async with deps.engine.begin() as connection:
        result = await connection.execute(
            agenda_items.update()
            .where(
                agenda_items.c.case_reference == referral.case_reference,
                agenda_items.c.meeting_starts_at > deps.clock.now(),
                agenda_items.c.withdrawn_reason.is_(None),
            )
            .values(withdrawn_reason=CHILD_WITHDRAWAL)
        )
    withdrawn = result.rowcount or 0
    if withdrawn:
        log.info("agenda_item_withdrawn_child", case_reference=referral.case_reference)
    return withdrawn


@on_database_thread  # the series' whole history of items: on SQLite it must not hold the loop
async def items_for(engine: AsyncEngine, series_id: str, starts_at: datetime) -> list[AgendaItem]:
    """The meeting's new items, plus reviews: items from the series' earlier meetings whose case
    is still open (casework reports an open task, or has reported nothing yet). Open needs and
    overdue actions come from casework's task events where there are any, and so do each case's
    onward referrals with their latest outcomes."""
    listed = (
        agenda_items.c.meeting_series == series_id,
        agenda_items.c.meeting_starts_at <= starts_at,
        agenda_items.c.withdrawn_reason.is_(None),
    )
    # The cases as a subquery, not a list of bound values: a series' history grows without end,
    # and SQLite refuses a statement with more than 32,766 parameters.
    references = sa.select(agenda_items.c.case_reference).where(*listed)
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(agenda_items).where(*listed))).all()
        known = (
            await connection.execute(
                sa.select(case_tasks).where(case_tasks.c.case_reference.in_(references))
            )
        ).all()
        advisors = {
            row.case_reference: row.person_id
            for row in await connection.execute(
                sa.select(case_advisors.c.case_reference, case_advisors.c.person_id).where(
                    case_advisors.c.case_reference.in_(references)
                )
            )
        }
        referrals = await onward_referrals_for(connection, references)
    tasks_of: dict[str, list[sa.Row[Any]]] = {}
    for task in known:
        tasks_of.setdefault(task.case_reference, []).append(task)
    items = []
    for row in rows:
        case_tasks_known = tasks_of.get(row.case_reference, [])
        still_open = not case_tasks_known or any(task.open for task in case_tasks_known)
        review = row.meeting_starts_at < starts_at
        if review and not still_open:
            continue  # a closed case drops off
        needs = tuple(filter(None, row.open_needs.split(",")))
        if case_tasks_known:
            needs = tuple(
                sorted(t.kind for t in case_tasks_known if t.open and t.kind in SUPPORT_NEEDS)
            )
        items.append(
            AgendaItem(
                case_reference=row.case_reference,
                district=row.district,
                exploitation_types=tuple(filter(None, row.exploitation_types.split(","))),
                urgency=row.urgency,
                open_needs=needs,
                late=row.late,
                added_at=row.added_at,
                review=review,
                position=None if review else row.position,
                overdue_actions=tuple(
                    sorted(t.kind for t in case_tasks_known if t.open and t.overdue)
                ),
                pathway=row.pathway,
                contacted_at=row.contacted_at,
                advisor=AssignedAdvisor(advisors.get(row.case_reference), row.advisor_recorded),
                onward_referrals=referrals.get(row.case_reference, ()),
            )
        )
    return items


async def record_task_event(
    event: TasksOpenedV1 | TaskOpenedV1 | TaskClosedV1 | TaskOverdueV1, deps: SchedulerDeps
) -> None:
    """Keep casework's view of the case's tasks (idempotent: upserts keyed on the task id).
    A case's opened tasks are one statement; TaskOpenedV1 is the one-task form records written
    before TasksOpenedV1 still carry."""
    async with deps.engine.begin() as connection:
        if isinstance(event, TasksOpenedV1 | TaskOpenedV1):
            opened = event.tasks if isinstance(event, TasksOpenedV1) else (event,)
            # executemany, not a multi-row .values([...]), which has no cache key and was
            # compiled afresh for every case (bench.profile).
            await connection.execute(
                insert_ignoring_duplicates(connection, case_tasks),
                checked_rows(case_tasks, [
                    {"task_id": task.task_id, "case_reference": event.case_reference,
                     "kind": task.kind, "open": True, "overdue": False}
                    for task in opened
                ]),
            )  # fmt: skip
            return
        values = {"open": False} if isinstance(event, TaskClosedV1) else {"overdue": True}
        updated = await connection.execute(
            case_tasks.update().where(case_tasks.c.task_id == event.task_id).values(**values)
        )
        if not updated.rowcount:  # arrived before its TasksOpenedV1
            await connection.execute(
                insert_ignoring_duplicates(connection, case_tasks).values(
                    task_id=event.task_id, case_reference=event.case_reference, kind=event.kind,
                    open=not isinstance(event, TaskClosedV1), overdue=isinstance(event, TaskOverdueV1),
                )
            )  # fmt: skip


async def record_acknowledgement(event: AlertAcknowledgedV1, deps: SchedulerDeps) -> int:
    """Whoever acknowledged a case's alert is its assigned advisor on the agenda (as casework
    assigns them its tasks). Per case, whether or not its item is listed yet; a later
    acknowledgement (a new alert for the case) replaces an earlier one, never the reverse, whatever
    order they arrive in. Returns how many cases changed. The agenda text changes with it, so an
    agenda already sent goes out again as a revised version (publishing.py), as for any change."""
    changed = 0
    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return 0
        advisor = {
            "person_id": event.person_id,
            "alert_id": event.alert_id,
            "acknowledged_at": event.occurred_at,
        }
        # Sorted: two instances handling alerts that share cases lock their rows in one order
        # (opposite orders deadlock, and PostgreSQL aborts one).
        for reference in sorted(set(event.case_references)):
            inserted = await insert_row_ignoring_duplicates(
                connection, case_advisors, {"case_reference": reference, **advisor}
            )
            if not inserted.rowcount:
                inserted = await connection.execute(
                    case_advisors.update()
                    .where(
                        case_advisors.c.case_reference == reference,
                        case_advisors.c.acknowledged_at < event.occurred_at,
                    )
                    .values(**advisor)
                )
            changed += inserted.rowcount or 0
    # No person id or case reference here: the alert id says which acknowledgement it was.
    log.info("case_advisor_recorded", alert_id=event.alert_id, cases=changed)
    return changed


async def other_business_for(
    engine: AsyncEngine, series_id: str, starts_at: datetime
) -> list[OtherBusiness]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(manual_items)
            .where(
                manual_items.c.meeting_series == series_id,
                manual_items.c.meeting_starts_at == starts_at,
            )
            .order_by(manual_items.c.added_at, manual_items.c.item_id)
        )
        return [OtherBusiness(row.text, row.added_by) for row in rows]
