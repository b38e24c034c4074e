"""Casework use cases: open the tasks a referral needs (never twice), assign them, change them
with a history, and chase overdue ones exactly once per threshold."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.casework.adapters.quarter_tables import alert_acknowledgements, case_alerts
from services.casework.adapters.tables import (
    case_owners,
    cases,
    outbox,
    processed_events,
    task_chases,
    task_history,
    tasks,
)
from services.casework.domain import CHILD_HANDOVER, DeadlinePolicy, plan_tasks
from services.casework.lifecycle import ACTIVE, Change, ChasePolicy, Status, check_transition
from services.casework.metrics import CaseworkMetrics
from shared.clock import LONDON, Clock
from shared.db import (
    checked_rows,
    claim_event,
    insert_ignoring_duplicates,
    insert_row_ignoring_duplicates,
)
from shared.events import (
    MAX_TASKS_PER_EVENT,
    AlertAcknowledgedV1,
    AlertRaisedV1,
    OpenedTask,
    Pathway,
    ReferralFacts,
    TaskClosedV1,
    TaskOverdueV1,
    TasksOpenedV1,
)
from shared.logging import get_logger
from shared.outbox import enqueue, enqueue_many
from shared.rota import Rota, on_duty

log = get_logger(__name__)
PRODUCER = "casework"
SYSTEM = "system"


class TaskNotFound(LookupError):
    pass


@dataclass(frozen=True)
class CaseworkDeps:
    engine: AsyncEngine
    policy: DeadlinePolicy
    chase: ChasePolicy
    rota: Rota
    clock: Clock
    tasks_topic: str
    on_commit: Callable[[], None]
    metrics: CaseworkMetrics = field(default_factory=CaseworkMetrics.unregistered)


async def open_tasks(referral: ReferralFacts, deps: CaseworkDeps) -> int:
    """Opened and updated referrals alike: tasks for needs not yet held are added, the rest kept.
    Each goes to whoever took the case (acknowledged its alert), else the advisor on duty."""
    now = deps.clock.now()
    planned = plan_tasks(referral, deps.policy, referral.occurred_at)
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(referral.event_id), now):
            return 0
        await insert_row_ignoring_duplicates(
            connection, cases,
            {
                "case_reference": referral.case_reference, "pathway": referral.pathway.value,
                "recorded_at": referral.recorded_at, "opened_at": referral.occurred_at,
                "district": referral.district.value, "nrm_consent": referral.nrm_consent.value,
            },
        )  # fmt: skip
        # An update may move the case (and a case from before casework_0006 gains its district):
        # the directory suggests by the latest. The latest consent splits the funder's figures.
        await connection.execute(
            cases.update()
            .where(cases.c.case_reference == referral.case_reference)
            .values(district=referral.district.value, nrm_consent=referral.nrm_consent.value)
        )
        owner = (
            await connection.execute(
                sa.select(case_owners.c.person_id).where(
                    case_owners.c.case_reference == referral.case_reference
                )
            )
        ).scalar()
        assignee, assigned_by = (
            (owner, "acknowledged") if owner else (on_duty(deps.rota, now).id, "on_duty")
        )
        # One statement each for the tasks, their history and their events, whatever the number
        # of tasks. A task the case already has (its kind) is not inserted, so not returned.
        rows = [
            {
                "task_id": str(uuid.uuid4()), "case_reference": referral.case_reference,
                "kind": task.kind, "status": Status.OPEN.value, "due_at": task.due_at,
                "created_at": now, "assignee": assignee, "assigned_by": assigned_by,
                "updated_at": now,
            }
            for task in planned
        ]  # fmt: skip
        inserted: set[str] = set()
        if rows:
            inserted = set(
                (
                    # executemany with RETURNING (SQLAlchemy's "insertmanyvalues" sends one
                    # statement): a multi-row .values(rows) has no cache key, so it was
                    # compiled afresh for every referral (bench.profile).
                    await connection.execute(
                        insert_ignoring_duplicates(connection, tasks).returning(tasks.c.task_id),
                        checked_rows(tasks, rows),
                    )
                ).scalars()
            )
        new = [row for row in rows if row["task_id"] in inserted]  # in the plan's order
        if new:
            await connection.execute(
                task_history.insert(),
                [
                    {
                        "task_id": row["task_id"], "actor": SYSTEM, "change": "opened",
                        "from_value": None, "to_value": Status.OPEN.value,
                        "detail": f"assigned to {assignee}", "at": now,
                    }
                    for row in new
                ],
            )  # fmt: skip
            # The case's new tasks in one event (more than MAX_TASKS_PER_EVENT in several).
            await enqueue_many(
                connection, outbox,
                [
                    (
                        deps.tasks_topic, referral.case_reference,
                        TasksOpenedV1(
                            occurred_at=now, correlation_id=referral.correlation_id,
                            causation_id=str(referral.event_id), producer=PRODUCER,
                            case_reference=referral.case_reference,
                            tasks=tuple(
                                OpenedTask(task_id=row["task_id"], kind=row["kind"],
                                           due_at=row["due_at"])
                                for row in new[start : start + MAX_TASKS_PER_EVENT]
                            ),
                        ),
                    )
                    for start in range(0, len(new), MAX_TASKS_PER_EVENT)
                ],
            )  # fmt: skip
        opened = len(new)
        kinds = [str(row["kind"]) for row in new]  # counted once the transaction has committed
        handed_over = 0
        if referral.pathway is Pathway.CHILD:
            handed_over = await _hand_adult_tasks_over(connection, deps, referral, now)
    deps.metrics.opened(kinds)
    if opened or handed_over:
        deps.on_commit()
    log.info("tasks_opened", case_reference=referral.case_reference, opened=opened,
             handed_over=handed_over)  # fmt: skip
    return opened


HANDED_OVER = "handed to children's services: the person is a child"


async def _hand_adult_tasks_over(
    connection: AsyncConnection, deps: CaseworkDeps, referral: ReferralFacts, now: datetime
) -> int:
    """An adult case corrected to a child (a later contact gave an age under 18): this service
    does not take it. The adult tasks close as not needed, so nobody is chased for them and the
    case panel stops carrying the case; the handover task stays."""
    await connection.execute(
        cases.update()
        .where(cases.c.case_reference == referral.case_reference)
        .values(pathway=Pathway.CHILD.value)
    )
    adult = (
        await connection.execute(
            sa.select(tasks).where(
                tasks.c.case_reference == referral.case_reference,
                tasks.c.kind != CHILD_HANDOVER,
                tasks.c.status.in_([status.value for status in ACTIVE]),
            )
        )
    ).all()
    for row in adult:
        await connection.execute(
            tasks.update()
            .where(tasks.c.task_id == row.task_id)
            .values(status=Status.NOT_NEEDED.value, detail=HANDED_OVER, updated_at=now,
                    closed_at=now)
        )  # fmt: skip
        await _history(connection, row.task_id, SYSTEM, "status", row.status,
                       Status.NOT_NEEDED.value, HANDED_OVER, now)  # fmt: skip
        await enqueue(
            connection, outbox, deps.tasks_topic, row.case_reference,
            TaskClosedV1(
                occurred_at=now, correlation_id=referral.correlation_id,
                causation_id=str(referral.event_id), producer=PRODUCER,
                case_reference=row.case_reference, task_id=row.task_id, kind=row.kind,
                status=Status.NOT_NEEDED.value,
            ),
        )  # fmt: skip
    return len(adult)


async def assign_to_acknowledger(event: AlertAcknowledgedV1, deps: CaseworkDeps) -> int:
    """Whoever acknowledged the alert takes the cases' tasks, unless the head of service has
    reassigned them. Works whichever of the two events arrives first."""
    now = deps.clock.now()
    moved = 0
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(event.event_id), now):
            return 0
        # For the funder's "acknowledged within target": the first acknowledgement of the alert.
        if len(event.alert_id) <= ALERT_ID_MAX:
            await insert_row_ignoring_duplicates(
                connection,
                alert_acknowledgements,
                {"alert_id": event.alert_id, "acknowledged_at": event.occurred_at},
            )
        # Sorted: two instances handling alerts that share cases lock their rows in one order
        # (opposite orders deadlock, and PostgreSQL aborts one).
        for reference in sorted(set(event.case_references)):
            known = await connection.execute(
                case_owners.update()
                .where(case_owners.c.case_reference == reference)
                .values(person_id=event.person_id, since=now)
            )
            if not known.rowcount:
                await connection.execute(
                    case_owners.insert().values(
                        case_reference=reference, person_id=event.person_id, since=now
                    )
                )
            rows = (
                await connection.execute(
                    sa.select(tasks.c.task_id, tasks.c.assignee).where(
                        tasks.c.case_reference == reference,
                        tasks.c.status.in_([s.value for s in ACTIVE]),
                        sa.or_(tasks.c.assigned_by.is_(None), tasks.c.assigned_by == "on_duty"),
                    )
                )
            ).all()
            for row in rows:
                await connection.execute(
                    tasks.update()
                    .where(tasks.c.task_id == row.task_id)
                    .values(assignee=event.person_id, assigned_by="acknowledged", updated_at=now)
                )
                await _history(
                    connection, row.task_id, event.person_id, "assigned", row.assignee, event.person_id,
                    "acknowledged the alert", now,
                )  # fmt: skip
                moved += 1
    log.info("tasks_assigned_on_acknowledgement", person_id=event.person_id, tasks=moved)
    return moved


# The notifier's alerts about a case (services/notifier/figures.py CASE_ALERT_KINDS): a single
# referral, a child referral, a raid's grouped alert. Reminders and notices are not about taking
# a case.
CASE_ALERT_KINDS = frozenset({"referral", "child_referral", "grouped"})
# The notifier's alert ids are UUIDs; the event does not bound them. A longer one (never the
# notifier's) is not kept, rather than refused by an index (PostgreSQL's btree rows are bounded).
ALERT_ID_MAX = 255


async def record_alert_raised(event: AlertRaisedV1, deps: CaseworkDeps) -> int:
    """Keeps each case's first alert (when raised, at what urgency) for the funder's figures.
    Idempotent without a claim: the first alert about a case wins, a replay inserts nothing."""
    if event.kind not in CASE_ALERT_KINDS or len(event.alert_id) > ALERT_ID_MAX:
        return 0
    recorded = 0
    async with deps.engine.begin() as connection:
        for reference in dict.fromkeys(event.case_references):
            result = await insert_row_ignoring_duplicates(
                connection, case_alerts,
                {
                    "case_reference": reference, "alert_id": event.alert_id,
                    "urgency": event.urgency.value, "raised_at": event.occurred_at,
                },
            )  # fmt: skip
            recorded += result.rowcount or 0
    return recorded


async def change_status(
    deps: CaseworkDeps, task_id: str, change: Change, actor: str
) -> dict[str, Any]:
    now = deps.clock.now()
    today = now.astimezone(LONDON).date()
    referral: dict[str, Any] = {}
    if change.status is Status.REFERRED:  # made today unless the advisor says otherwise
        referral = {"referral_method": change.method, "referred_on": change.referred_on or today}
    if change.outcome:
        referral["outcome"] = change.outcome
    async with deps.engine.begin() as connection:
        row = await _task(connection, task_id)
        check_transition(Status(row.status), change, today)
        detail = change.reason or change.outcome or row.detail
        values: dict[str, Any] = {
            "status": change.status.value,
            "updated_at": now,
            "detail": detail,
            **referral,
        }
        if change.organisation:
            values["organisation"] = change.organisation
        closing = change.status not in ACTIVE  # referred counts: the task left our hands
        if closing:
            values["closed_at"] = now
        await connection.execute(tasks.update().where(tasks.c.task_id == task_id).values(**values))
        await _history(connection, task_id, actor, "status", row.status, change.status.value,
                       change.organisation or detail, now, organisation=change.organisation,
                       **referral)  # fmt: skip
        if closing:
            await enqueue(
                connection, outbox, deps.tasks_topic, row.case_reference,
                TaskClosedV1(
                    occurred_at=now, correlation_id=row.case_reference, producer=PRODUCER,
                    case_reference=row.case_reference, task_id=task_id, kind=row.kind,
                    status=change.status.value,
                    organisation=values.get("organisation", row.organisation),
                ),
            )  # fmt: skip
        updated = await _task(connection, task_id)
    deps.on_commit()
    return dict(updated._mapping)


async def reassign(deps: CaseworkDeps, task_id: str, person_id: str, actor: str) -> dict[str, Any]:
    now = deps.clock.now()
    async with deps.engine.begin() as connection:
        row = await _task(connection, task_id)
        await connection.execute(
            tasks.update()
            .where(tasks.c.task_id == task_id)
            .values(assignee=person_id, assigned_by="reassigned", updated_at=now)
        )
        await _history(
            connection, task_id, actor, "assigned", row.assignee, person_id, "reassigned", now
        )
        updated = await _task(connection, task_id)
    return dict(updated._mapping)


async def chase_overdue(deps: CaseworkDeps) -> int:
    """Publish TaskOverdueV1 once per active task and threshold crossed. The chase row and the
    event commit together, so a restart neither skips nor repeats a reminder."""
    now = deps.clock.now()
    overdue = sa.and_(tasks.c.status.in_([s.value for s in ACTIVE]), tasks.c.due_at <= now)
    async with deps.engine.connect() as connection:
        due = (await connection.execute(sa.select(tasks).where(overdue))).all()
        # The thresholds already chased, read once: a backlog of overdue tasks would otherwise
        # cost a write transaction (and on SQLite an fsync) per task and threshold every pass.
        # The claim below still decides, should another instance chase the same one meanwhile.
        chased = {
            (chase.task_id, chase.threshold)
            for chase in await connection.execute(
                sa.select(task_chases.c.task_id, task_chases.c.threshold)
                .join(tasks, tasks.c.task_id == task_chases.c.task_id)
                .where(overdue)
            )
        }
    published = 0
    for row in due:
        for threshold in deps.chase.crossed(row.due_at, now):
            if (row.task_id, threshold) in chased:
                continue
            async with deps.engine.begin() as connection:
                new = await connection.execute(
                    insert_ignoring_duplicates(connection, task_chases).values(
                        task_id=row.task_id, threshold=threshold, chased_at=now
                    )
                )
                if not new.rowcount:
                    continue
                await enqueue(
                    connection, outbox, deps.tasks_topic, row.case_reference,
                    TaskOverdueV1(
                        occurred_at=now, correlation_id=row.case_reference, producer=PRODUCER,
                        case_reference=row.case_reference, task_id=row.task_id, kind=row.kind,
                        due_at=row.due_at, threshold=threshold,
                        assignee=row.assignee,
                    ),
                )  # fmt: skip
                await _history(
                    connection, row.task_id, SYSTEM, "overdue", None, threshold, None, now
                )
                published += 1
            deps.metrics.chased(1)  # committed: a restart will not chase this threshold again
    if published:
        deps.on_commit()
        log.info("overdue_tasks_chased", reminders=published)
    return published


async def _task(connection: AsyncConnection, task_id: str) -> sa.Row[Any]:
    row = (await connection.execute(sa.select(tasks).where(tasks.c.task_id == task_id))).first()
    if row is None:
        raise TaskNotFound(task_id)
    return row


async def _history(
    connection: AsyncConnection, task_id: str, actor: str, change: str,
    from_value: str | None, to_value: str | None, detail: str | None, at: datetime,
    *, organisation: str | None = None, referral_method: str | None = None,
    referred_on: date | None = None, outcome: str | None = None,
) -> None:  # fmt: skip
    await connection.execute(
        task_history.insert().values(
            task_id=task_id, actor=actor, change=change, from_value=from_value, to_value=to_value,
            detail=detail, at=at, organisation=organisation, referral_method=referral_method,
            referred_on=referred_on, outcome=outcome,
        )
    )  # fmt: skip
