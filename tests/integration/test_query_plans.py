"""Reads that run often use an index, not a scan of every row ever written: the notifier's open
alerts, which the console polls and the metrics sampler counts every 5 s on the paging service
(notifier_0011), and a case's alerts, on its page (notifier_0012); an agenda's items, read on every build of the agenda (meeting_scheduler_0016);
the agenda's deferrals and withdrawals from the staff audit and the NASN agenda's quarter summary
(meeting_scheduler_0017); casework's booking reminders, every 30 s (casework_0010).
Each use case runs on its service's migrated SQLite database; every statement it sends that reads
the table is captured and given to SQLite's EXPLAIN QUERY PLAN."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.config import load_config as load_casework_config
from services.casework.criminal_justice import EngagementPolicy, ReminderOffset
from services.casework.criminal_justice_records import remind_bookings
from services.casework.handlers import CaseworkDeps
from services.casework.lifecycle import ChasePolicy
from services.casework.main import MIGRATIONS as CASEWORK_MIGRATIONS
from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.coordinating import deferrals, withdrawals
from services.meeting_scheduler.handlers import items_for
from services.meeting_scheduler.main import MIGRATIONS as SCHEDULER_MIGRATIONS
from services.meeting_scheduler.nasn import summarise
from services.notifier.alert_views import list_alerts
from services.notifier.main import MIGRATIONS
from services.notifier.metrics import NotifierMetrics
from shared.clock import FixedClock
from shared.db import create_engine, migrate
from shared.metrics import ServiceMetrics
from shared.rota import load_rota
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


async def migrated(
    folder: Path, service: str, migrations: Path
) -> AsyncGenerator[AsyncEngine, None]:
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


async def test_a_cases_alerts_are_read_by_the_case_index(engine: AsyncEngine) -> None:
    """The case page's alerts: the case's own by `ix_alerts_case` (notifier_0012), the grouped
    ones through the batches; no read of every alert ever raised."""
    (plan,) = await plans_of(engine, lambda: list_alerts(engine, "all", "MS-2026-000001", 50))
    assert "ix_alerts_case" in plan, plan
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


def uses_index(plans: list[str], index: str, table: str) -> None:
    assert plans, f"no read of {table} was captured"
    for plan in plans:
        assert index in plan, plan
        assert f"SCAN {table}" not in plan, plan


async def test_the_agendas_deferrals_and_withdrawals_use_the_audit_index(
    scheduler_engine: AsyncEngine,
) -> None:
    """By case (a case's history), by series (an agenda's moved items) and the withdrawals of a
    list of cases: all three read the audit by action first."""
    reads = (
        lambda: deferrals(scheduler_engine, case_reference="MS-2026-000001"),
        lambda: deferrals(scheduler_engine, series_id=CASE_PANEL.id),
        lambda: withdrawals(scheduler_engine, ["MS-2026-000001", "MS-2026-000002"]),
    )
    for read in reads:
        plans = await plans_of(scheduler_engine, read, "staff_actions")
        uses_index(plans, "ix_staff_actions_action_subject", "staff_actions")


async def test_the_nasn_summary_reads_one_quarter_by_the_index(
    scheduler_engine: AsyncEngine,
) -> None:
    until = datetime.now(UTC)
    plans = await plans_of(
        scheduler_engine,
        lambda: summarise(scheduler_engine, until - timedelta(days=91), until),
        "referral_stats",
    )
    uses_index(plans, "ix_referral_stats_occurred", "referral_stats")


async def test_the_booking_reminders_read_only_bookings_ahead(tmp_path: Path) -> None:
    config = load_casework_config(ROOT / "deploy" / "config" / "casework.yaml")
    engines = migrated(tmp_path, "casework", CASEWORK_MIGRATIONS)
    engine = await anext(engines)
    deps = CaseworkDeps(
        engine=engine, policy=config.deadline_policy(), chase=ChasePolicy(),
        rota=load_rota(ROOT / "deploy" / "config" / "rota.yaml"),
        clock=FixedClock(datetime.now(UTC)), tasks_topic="tasks", on_commit=lambda: None,
    )  # fmt: skip
    policy = EngagementPolicy(reminders=(ReminderOffset(hours=2),))
    try:
        plans = await plans_of(engine, lambda: remind_bookings(deps, policy), "criminal_justice")
        uses_index(plans, "ix_criminal_justice_booked", "criminal_justice")
    finally:
        await engines.aclose()
