"""Casework use case: open the tasks a referral needs, never twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.adapters.tables import outbox, processed_events, tasks
from services.casework.domain import DeadlinePolicy, plan_tasks
from shared.clock import Clock
from shared.db import claim_event, insert_ignoring_duplicates
from shared.events import ReferralFacts, TaskOpenedV1
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)
PRODUCER = "casework"


@dataclass(frozen=True)
class CaseworkDeps:
    engine: AsyncEngine
    policy: DeadlinePolicy
    clock: Clock
    tasks_topic: str
    on_commit: Callable[[], None]


async def open_tasks(referral: ReferralFacts, deps: CaseworkDeps) -> int:
    """Opened and updated referrals alike: tasks for needs not yet held are added, the rest kept.
    Returns how many tasks were opened."""
    now = deps.clock.now()
    planned = plan_tasks(referral, deps.policy, referral.occurred_at)
    opened = 0
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(referral.event_id), now):
            return 0
        for task in planned:
            task_id = str(uuid.uuid4())
            result = await connection.execute(
                insert_ignoring_duplicates(connection, tasks).values(
                    task_id=task_id,
                    case_reference=referral.case_reference,
                    kind=task.kind,
                    status="open",
                    due_at=task.due_at,
                    created_at=now,
                )
            )
            if not result.rowcount:
                continue
            opened += 1
            await enqueue(
                connection,
                outbox,
                deps.tasks_topic,
                referral.case_reference,
                TaskOpenedV1(
                    occurred_at=now,
                    correlation_id=referral.correlation_id,
                    causation_id=str(referral.event_id),
                    producer=PRODUCER,
                    case_reference=referral.case_reference,
                    task_id=task_id,
                    kind=task.kind,
                    due_at=task.due_at,
                ),
            )
    if opened:
        deps.on_commit()
    log.info("tasks_opened", case_reference=referral.case_reference, opened=opened)
    return opened


async def case_tasks(engine: AsyncEngine, case_reference: str) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(tasks.c.task_id, tasks.c.kind, tasks.c.status, tasks.c.due_at)
            .where(tasks.c.case_reference == case_reference)
            .order_by(tasks.c.due_at, tasks.c.kind)
        )
        return [dict(row._mapping) for row in rows]
