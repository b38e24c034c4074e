"""Reads that run often use an index, not a scan of every row ever written: the notifier's open
alerts, which the console polls and the metrics sampler counts every 5 s on the paging service
(notifier_0011), and an agenda's items, read on every build of the agenda (meeting_scheduler_0016).
Each use case runs on its service's migrated SQLite database; every statement it sends that reads
the table is captured and given to SQLite's EXPLAIN QUERY PLAN."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.handlers import items_for
from services.meeting_scheduler.main import MIGRATIONS as SCHEDULER_MIGRATIONS
from services.notifier.alert_views import list_alerts
from services.notifier.main import MIGRATIONS
from services.notifier.metrics import NotifierMetrics
from shared.db import create_engine, migrate
from shared.metrics import ServiceMetrics
from tests.support.system import ROOT

pytestmark = pytest.mark.integration

CASE_PANEL = load_calendar(ROOT / "deploy" / "config" / "meetings.yaml").case_panel()


async def plans_of(
    engine: AsyncEngine, use_case: Callable[[], Awaitable[object]], table: str = "alerts"
) -> list[str]:
    """SQLite's plan of every statement `use_case` sends that reads `table`, one text each."""
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if f" {table}" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await use_case()
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", capture)
    plans = []
    async with engine.connect() as connection:
        for statement, parameters in sent:
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append(" | ".join(row.detail for row in rows))
    return plans


async def migrated(folder: Path, service: str, migrations: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{folder / service}.sqlite3")
    await migrate(engine, migrations, version_table=f"alembic_version_{service}")
    yield engine
    await engine.dispose()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async for engine in migrated(tmp_path, "notifier", MIGRATIONS):
        yield engine


@pytest.fixture
async def scheduler_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async for engine in migrated(tmp_path, "meeting_scheduler", SCHEDULER_MIGRATIONS):
        yield engine


async def test_the_open_alerts_poll_reads_the_index(engine: AsyncEngine) -> None:
    (plan,) = await plans_of(engine, lambda: list_alerts(engine, "open", None, 50))
    assert "ix_alerts_status_raised" in plan, plan
    assert "SCAN alerts" not in plan, plan


async def test_the_metrics_sample_reads_the_index(engine: AsyncEngine) -> None:
    sample = NotifierMetrics.register(ServiceMetrics("notifier")).sampler(
        engine, lambda: datetime.now(UTC)
    )
    (plan,) = await plans_of(engine, sample)
    assert "ix_alerts_status_raised" in plan, plan
    assert "SCAN alerts" not in plan, plan


async def test_an_agendas_reads_of_its_items_use_the_index(scheduler_engine: AsyncEngine) -> None:
    """The items, then the cases' tasks, advisors and referrals, each by the items' subquery."""
    now = datetime.now(UTC)
    plans = await plans_of(
        scheduler_engine, lambda: items_for(scheduler_engine, CASE_PANEL.id, now), "agenda_items"
    )
    assert len(plans) == 4, plans
    for plan in plans:
        assert "ix_agenda_items_series" in plan, plan
        assert "SCAN agenda_items" not in plan, plan
