"""The notifier's reads of open alerts use an index, not a scan of every alert ever raised: the
console polls them every 5 s and the metrics sampler counts them every 5 s, on the paging
service (notifier_0011). Each use case runs on a migrated SQLite database; every statement it
sends is captured and given to SQLite's EXPLAIN QUERY PLAN."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.alert_views import list_alerts
from services.notifier.main import MIGRATIONS
from services.notifier.metrics import NotifierMetrics
from shared.db import create_engine, migrate
from shared.metrics import ServiceMetrics

pytestmark = pytest.mark.integration


async def plans_of(engine: AsyncEngine, use_case: Callable[[], Awaitable[object]]) -> list[str]:
    """SQLite's plan of every statement `use_case` sends that reads `alerts`, one text each."""
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if " alerts" in statement and statement.lstrip().upper().startswith("SELECT"):
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


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.sqlite3'}")
    await migrate(engine, MIGRATIONS, version_table="alembic_version_notifier")
    yield engine
    await engine.dispose()


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
