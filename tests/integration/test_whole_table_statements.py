"""Statements whose length grows with a table (the hourly erasing and purging, the outbox prunes,
the figures a head of service asks for, the task and alert lists, an agenda's reads) run on aiosqlite's thread, never on the service's event
loop: on the loop, a million rows stalled every consumer of the service for 0.1-0.3 s
(shared/sqlite_driver.py). Each use case runs here against its service's migrated SQLite
database, and every statement it sends is checked for the thread it ran on."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework import main as casework_main
from services.casework.quarter_reports import read_facts
from services.casework.queries import TaskFilter, Viewer, figures, list_tasks
from services.intake import main as intake_main
from services.intake.vault_access import purge_expired
from services.meeting_scheduler import main as scheduler_main
from services.meeting_scheduler.adapters.tables import agenda_items
from services.meeting_scheduler.adapters.tables import outbox as scheduler_outbox
from services.meeting_scheduler.agenda_views import agenda_view
from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.documents import agenda_documents
from services.meeting_scheduler.handlers import items_for
from services.meeting_scheduler.nasn import erase_old_operations
from services.notifier import main as notifier_main
from services.notifier.alert_views import list_alerts
from services.notifier.delivering import erase_old_messages
from services.notifier.figures import alert_figures
from services.notifier.policy import load_policy
from shared import sqlite_driver
from shared.clock import FixedClock
from shared.db import create_engine, migrate
from shared.outbox import prune_published
from shared.rota import Role
from tests.support.system import ROOT

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
POLICY = load_policy(ROOT / "deploy" / "config" / "alerting.yaml")
CASE_PANEL = load_calendar(ROOT / "deploy" / "config" / "meetings.yaml").case_panel()
HEAD = Viewer("head", Role.HEAD_OF_SERVICE)


async def erase_messages(engine: AsyncEngine) -> object:
    deps: Any = SimpleNamespace(engine=engine, clock=FixedClock(NOW), policy=POLICY)
    return await erase_old_messages(deps)


async def prune_scheduler_outbox(engine: AsyncEngine) -> object:
    async with engine.begin() as connection:
        return await prune_published(connection, scheduler_outbox, NOW)


USE_CASES: dict[str, tuple[Any, Callable[[AsyncEngine], Awaitable[object]]]] = {
    "intake purge": (
        intake_main,
        lambda engine: purge_expired(engine, NOW, timedelta(days=90), timedelta(minutes=10)),
    ),
    "notifier erase": (notifier_main, erase_messages),
    "notifier figures": (notifier_main, lambda engine: alert_figures(engine, POLICY)),
    "casework figures": (casework_main, lambda engine: figures(engine, NOW, 100)),
    "casework quarter facts": (casework_main, lambda engine: read_facts(engine, NOW)),
    "scheduler erase": (
        scheduler_main,
        lambda engine: erase_old_operations(engine, NOW - timedelta(days=365)),
    ),
    "scheduler outbox prune": (scheduler_main, prune_scheduler_outbox),
    "notifier alert list": (notifier_main, lambda engine: list_alerts(engine, "all", None, 50)),
    "casework task list": (
        casework_main,
        lambda engine: list_tasks(engine, HEAD, TaskFilter(), NOW),
    ),
    "scheduler agenda items": (
        scheduler_main,
        lambda engine: items_for(engine, CASE_PANEL.id, NOW),
    ),
    "scheduler agenda documents": (
        scheduler_main,
        lambda engine: agenda_documents(engine, CASE_PANEL, NOW),
    ),
    "scheduler agenda view": (
        scheduler_main,
        lambda engine: agenda_view(engine, CASE_PANEL, NOW, [], []),
    ),
}


@pytest.fixture
def threads_seen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each statement the driver runs, whether it ran on the event loop's thread."""
    loop_thread = threading.get_ident()
    seen: list[bool] = []
    original = sqlite_driver._run_statement

    def noted(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.get_ident() == loop_thread)
        return original(*args, **kwargs)

    monkeypatch.setattr(sqlite_driver, "_run_statement", noted)
    return seen


@pytest.mark.parametrize("name", USE_CASES)
async def test_a_whole_table_use_case_runs_no_statement_on_the_loop(
    name: str, tmp_path: Path, threads_seen: list[bool]
) -> None:
    module, use_case = USE_CASES[name]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'service.sqlite3'}")
    try:
        service = module.__name__.split(".")[1]
        await migrate(engine, module.MIGRATIONS, version_table=f"alembic_version_{service}")
        async with engine.connect() as connection:  # a statement outside: on the loop, as before
            await connection.exec_driver_sql("SELECT 1")
        assert threads_seen[-1] is True
        threads_seen.clear()
        await use_case(engine)
    finally:
        await engine.dispose()
    assert threads_seen, "the use case ran no statement"
    assert not any(threads_seen), threads_seen


async def test_an_agenda_over_more_cases_than_sqlite_takes_parameters(tmp_path: Path) -> None:
    """A series' history only grows. Its cases went into the next reads as a list of bound
    values, and SQLite refuses a statement with more parameters than its limit: 999 before SQLite
    3.32 (a few months of case panels), 32,766 since, 250,000 in Debian's build. They go as a
    subquery now. The limit is lowered to the old default here, as SQLite allows at run time."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'scheduler.sqlite3'}")
    limit, cases = 999, 1_200

    def lower_the_limit(adapted: Any, _: object) -> None:
        sqlite: sqlite3.Connection = adapted.driver_connection._conn
        sqlite.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)

    sa.event.listen(engine.sync_engine, "connect", lower_the_limit)
    try:
        await migrate(engine, scheduler_main.MIGRATIONS, "alembic_version_meeting_scheduler")
        past = NOW - timedelta(days=400)
        async with engine.begin() as connection:
            await connection.execute(
                agenda_items.insert(),
                [
                    {
                        "item_id": f"item-{n}", "case_reference": f"MS-2025-{n:05d}",
                        "meeting_series": CASE_PANEL.id, "meeting_starts_at": past,
                        "district": "norwich", "exploitation_types": "labour",
                        "urgency": "routine", "open_needs": "", "late": False, "added_at": past,
                    }
                    for n in range(cases)
                ],
            )  # fmt: skip
        items = await items_for(engine, CASE_PANEL.id, NOW)
    finally:
        await engine.dispose()
    assert len(items) == cases  # no task known from casework: every case is still open
    assert all(item.review for item in items)
