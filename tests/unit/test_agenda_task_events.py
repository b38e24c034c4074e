"""The meeting scheduler's view of casework's tasks, kept from the tasks topic: a case's opened
tasks arrive as one TasksOpenedV1, records from before it as one TaskOpenedV1 per task, and both
(and closes and overdue marks, in any order, read any number of times) leave one row per task. On
a real SQLite database migrated as the service migrates, through the scheduler's own handler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import case_tasks
from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.handlers import SchedulerDeps, record_task_event
from shared.clock import FixedClock
from shared.db import alembic_config, create_engine
from shared.events import OpenedTask, TaskClosedV1, TaskOpenedV1, TaskOverdueV1, TasksOpenedV1
from shared.topics import AGENDA
from tests.unit.builders import MEETINGS_FILE, ROOT

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CASE = "MS-2026-TASKS1"
ENVELOPE = {"occurred_at": NOW, "correlation_id": "c-tasks", "producer": "casework"}


def _upgrade(connection: Connection) -> None:
    location = ROOT / "services" / "meeting_scheduler" / "migrations"
    command.upgrade(
        alembic_config(location, connection, "alembic_version_meeting_scheduler"), "head"
    )


@pytest.fixture
async def deps(tmp_path: Path) -> AsyncIterator[SchedulerDeps]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'meetings.sqlite3'}")
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
    yield SchedulerDeps(
        engine, load_calendar(MEETINGS_FILE), FixedClock(NOW), AGENDA.name, on_commit=lambda: None
    )
    await engine.dispose()


async def _rows(engine: AsyncEngine) -> dict[str, tuple[str, str, bool, bool]]:
    async with engine.connect() as connection:
        rows = (await connection.execute(sa.select(case_tasks))).all()
    return {row.task_id: (row.case_reference, row.kind, row.open, row.overdue) for row in rows}


def _opened(*tasks: tuple[str, str]) -> TasksOpenedV1:
    return TasksOpenedV1(
        **ENVELOPE, case_reference=CASE,
        tasks=tuple(OpenedTask(task_id=task_id, kind=kind, due_at=NOW + timedelta(days=1))
                    for task_id, kind in tasks),
    )  # fmt: skip


async def test_a_cases_opened_tasks_are_recorded_together_and_once(deps: SchedulerDeps) -> None:
    opened = _opened(("t-1", "first_contact"), ("t-2", "healthcare"), ("t-3", "housing"))
    await record_task_event(opened, deps)
    await record_task_event(opened, deps)  # read again after a crash before the offset commit
    assert await _rows(deps.engine) == {
        "t-1": (CASE, "first_contact", True, False),
        "t-2": (CASE, "healthcare", True, False),
        "t-3": (CASE, "housing", True, False),
    }


async def test_the_one_task_form_and_later_changes_in_any_order(deps: SchedulerDeps) -> None:
    await record_task_event(_opened(("t-1", "first_contact"), ("t-2", "healthcare")), deps)
    # A record written before TasksOpenedV1, still on the topic.
    legacy = TaskOpenedV1(
        **ENVELOPE, case_reference=CASE, task_id="t-3", kind="housing", due_at=NOW
    )
    await record_task_event(legacy, deps)
    await record_task_event(
        TaskClosedV1(**ENVELOPE, case_reference=CASE, task_id="t-1", kind="first_contact",
                     status="done"), deps,
    )  # fmt: skip
    await record_task_event(
        TaskOverdueV1(**ENVELOPE, case_reference=CASE, task_id="t-2", kind="healthcare",
                      due_at=NOW, threshold="due"), deps,
    )  # fmt: skip
    # A close read before its opening (another partition's lag, a replay): the opening read
    # later must not reopen it.
    await record_task_event(
        TaskClosedV1(**ENVELOPE, case_reference=CASE, task_id="t-4", kind="interpreter",
                     status="not_needed"), deps,
    )  # fmt: skip
    await record_task_event(_opened(("t-4", "interpreter")), deps)
    assert await _rows(deps.engine) == {
        "t-1": (CASE, "first_contact", False, False),
        "t-2": (CASE, "healthcare", True, True),
        "t-3": (CASE, "housing", True, False),
        "t-4": (CASE, "interpreter", False, False),
    }


def test_an_opening_has_at_least_one_task_and_a_bounded_number() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _opened()
    with pytest.raises(ValueError, match="at most 64"):
        _opened(*((f"t-{n}", "other") for n in range(65)))
