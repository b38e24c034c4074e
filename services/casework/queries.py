"""Reads: task lists as each role may see them, a task's or a case's history, and the funder's
figures."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.adapters.criminal_justice_tables import criminal_justice
from services.casework.adapters.referral_tables import referrals
from services.casework.adapters.tables import cases, task_history, tasks
from services.casework.criminal_justice import Engagement
from services.casework.domain import FIRST_CONTACT
from services.casework.lifecycle import ACTIVE, Status
from shared.events import Pathway
from shared.rota import Role
from shared.sqlite_driver import on_database_thread

TASK_COLUMNS = (
    tasks.c.task_id, tasks.c.case_reference, tasks.c.kind, tasks.c.status, tasks.c.due_at,
    tasks.c.assignee, tasks.c.assigned_by, tasks.c.organisation, tasks.c.detail,
    tasks.c.created_at, tasks.c.updated_at, tasks.c.closed_at, tasks.c.referral_method,
    tasks.c.referred_on, tasks.c.outcome,
)  # fmt: skip


@dataclass(frozen=True)
class Viewer:
    person_id: str
    role: Role

    @property
    def sees_all(self) -> bool:
        return self.role is Role.HEAD_OF_SERVICE


@dataclass(frozen=True)
class TaskFilter:
    statuses: tuple[str, ...] = ()  # any of these; none given: every status
    kind: str | None = None
    case_reference: str | None = None
    assignee: str | None = None
    overdue: bool | None = None
    sort: Literal["due_at", "-due_at", "created_at", "-created_at"] = "due_at"


def visible_to(viewer: Viewer) -> sa.ColumnElement[bool]:
    """An advisor sees their own and unassigned tasks; the head of service sees all."""
    if viewer.sees_all:
        return sa.true()
    return sa.or_(tasks.c.assignee == viewer.person_id, tasks.c.assignee.is_(None))


def is_overdue(task: dict[str, Any], now: datetime) -> bool:
    """Still to do and past its deadline: the same rule as the `overdue` filter and the chaser."""
    return task["status"] in ACTIVE and task["due_at"] <= now


@on_database_thread  # every task a viewer may see: on SQLite it must not hold the loop
async def list_tasks(
    engine: AsyncEngine, viewer: Viewer, wanted: TaskFilter, now: datetime
) -> list[dict[str, Any]]:
    query = sa.select(*TASK_COLUMNS).where(visible_to(viewer))
    if wanted.statuses:
        query = query.where(tasks.c.status.in_(wanted.statuses))
    for column, value in (
        (tasks.c.kind, wanted.kind), (tasks.c.case_reference, wanted.case_reference),
        (tasks.c.assignee, wanted.assignee),
    ):  # fmt: skip
        if value is not None:
            query = query.where(column == value)
    if wanted.overdue is not None:
        overdue = sa.and_(tasks.c.status.in_([s.value for s in ACTIVE]), tasks.c.due_at <= now)
        query = query.where(overdue if wanted.overdue else sa.not_(overdue))
    column = tasks.c.due_at if wanted.sort.endswith("due_at") else tasks.c.created_at
    query = query.order_by(column.desc() if wanted.sort.startswith("-") else column, tasks.c.kind)
    async with engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(query)]


async def task_for(engine: AsyncEngine, viewer: Viewer, task_id: str) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(*TASK_COLUMNS).where(tasks.c.task_id == task_id, visible_to(viewer))
            )
        ).first()
    return dict(row._mapping) if row else None


async def history_of(engine: AsyncEngine, task_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(task_history)
            .where(task_history.c.task_id == task_id)
            .order_by(task_history.c.id)
        )
        return [dict(row._mapping) for row in rows]


async def case_history(
    engine: AsyncEngine, viewer: Viewer, case_reference: str
) -> list[dict[str, Any]]:
    """Every change to the case's tasks that the viewer may see, oldest first, each with its
    task's kind: the case timeline. An advisor sees the history of the tasks they may see."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(task_history, tasks.c.kind)
            .join(tasks, tasks.c.task_id == task_history.c.task_id)
            .where(tasks.c.case_reference == case_reference, visible_to(viewer))
            .order_by(task_history.c.at, task_history.c.id)
        )
        return [dict(row._mapping) for row in rows]


@on_database_thread  # whole-table counts: on SQLite they must not hold the loop
async def figures(engine: AsyncEngine, now: datetime, target: int) -> dict[str, Any]:
    """People supported (adult cases taken on), open and overdue tasks by need, time from police
    contact to first contact, referrals made by organisation."""
    active = [s.value for s in ACTIVE]
    async with engine.connect() as connection:
        supported = (
            await connection.execute(
                sa.select(sa.func.count())
                .select_from(cases)
                .where(cases.c.pathway != Pathway.CHILD.value)
            )
        ).scalar_one()
        open_by_need: dict[Any, Any] = dict(
            (await connection.execute(
                sa.select(tasks.c.kind, sa.func.count()).where(tasks.c.status.in_(active)).group_by(tasks.c.kind)
            )).all()
        )  # fmt: skip
        overdue_by_need: dict[Any, Any] = dict(
            (await connection.execute(
                sa.select(tasks.c.kind, sa.func.count())
                .where(tasks.c.status.in_(active), tasks.c.due_at <= now).group_by(tasks.c.kind)
            )).all()
        )  # fmt: skip
        referred: dict[Any, Any] = dict(
            (await connection.execute(
                sa.select(tasks.c.organisation, sa.func.count())
                .where(tasks.c.organisation.is_not(None)).group_by(tasks.c.organisation)
            )).all()
        )  # fmt: skip
        engaged: dict[Any, Any] = dict(
            (await connection.execute(
                sa.select(criminal_justice.c.state, sa.func.count())
                .join(cases, cases.c.case_reference == criminal_justice.c.case_reference)
                .where(cases.c.pathway != Pathway.CHILD.value).group_by(criminal_justice.c.state)
            )).all()
        )  # fmt: skip
        by_need_and_outcome = (
            await connection.execute(
                sa.select(referrals.c.kind, referrals.c.outcome, sa.func.count()).group_by(
                    referrals.c.kind, referrals.c.outcome
                )
            )
        ).all()
        first_contacts = (
            await connection.execute(
                sa.select(cases.c.recorded_at, tasks.c.closed_at)
                .join(tasks, tasks.c.case_reference == cases.c.case_reference)
                .where(tasks.c.kind == FIRST_CONTACT, tasks.c.status == Status.DONE.value)
            )
        ).all()
    hours = [
        (closed - recorded).total_seconds() / 3600 for recorded, closed in first_contacts if closed
    ]
    return {
        "people_supported": int(supported),
        "target": target,
        "open_tasks_by_need": {str(k): int(v) for k, v in open_by_need.items()},
        "overdue_tasks_by_need": {str(k): int(v) for k, v in overdue_by_need.items()},
        "median_hours_to_first_contact": round(statistics.median(hours), 2) if hours else None,
        "referrals_by_organisation": {str(k): int(v) for k, v in referred.items()},
        # Adult cases by engagement with the investigation; not yet asked: nothing recorded.
        # Raw counts for staff, like the rest: documents for others suppress small numbers.
        "criminal_justice_by_state": {
            state.value: int(supported) - sum(int(v) for v in engaged.values())
            if state is Engagement.NOT_YET_ASKED
            else int(engaged.get(state.value, 0))
            for state in Engagement
        },
        # Onward referrals recorded as records (POST /v1/tasks/{id}/referrals), by need then
        # outcome now. referrals_by_organisation above counts the older free `organisation` of a
        # task closed as referred; the two are separate records.
        "referrals_by_need_and_outcome": _nested(by_need_and_outcome),
    }


def _nested(rows: Any) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for need, outcome, count in rows:
        counts.setdefault(str(need), {})[str(outcome)] = int(count)
    return counts
