"""The audit trails are append-only in the database itself: the service's own connection cannot
UPDATE or DELETE a record of who did what (meeting_scheduler's staff_actions, casework's
task_history, intake's vault_access_log of personal-data reads), on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import services.casework.main as casework
import services.intake.main as intake
import services.meeting_scheduler.main as meeting_scheduler
from services.casework.adapters.tables import task_history
from services.intake.adapters.tables import vault_access_log
from services.meeting_scheduler.adapters.tables import staff_actions
from shared.audit import Actor
from shared.db import create_engine, migrate
from tests.support.databases import DatabaseUrls

pytestmark = pytest.mark.security


@pytest.mark.parametrize(
    ("service", "migrations", "table"),
    [
        ("meeting_scheduler", meeting_scheduler.MIGRATIONS, staff_actions),
        ("casework", casework.MIGRATIONS, task_history),
        ("intake", intake.MIGRATIONS, vault_access_log),
    ],
)
async def test_audit_records_cannot_be_rewritten(
    database_urls: DatabaseUrls, service: str, migrations: Path, table: sa.Table
) -> None:
    when = "accessed_at" if table is vault_access_log else "at"
    engine = create_engine(await database_urls.new(service))
    try:
        await migrate(engine, migrations, version_table=f"alembic_version_{service}")
        now = datetime.now(UTC)
        async with engine.begin() as connection:
            if table is staff_actions:
                await Actor(staff_actions, "coordinator", now).record(
                    connection, "agenda.withdraw", "MS-2026-AUDIT1", "duplicate"
                )
            elif table is vault_access_log:
                await connection.execute(vault_access_log.insert().values(
                    case_reference="MS-2026-AUDIT2", accessor="reader-ann", action="read",
                    purpose="court support booking", accessed_at=now,
                ))  # fmt: skip
            else:
                await connection.execute(task_history.insert().values(
                    task_id=str(uuid.uuid4()), actor="head-of-service", change="assigned",
                    from_value="advisor-day", to_value="advisor-night", at=now,
                ))  # fmt: skip
        refused = []
        for attempt in (
            table.update().values({when: now.replace(year=2020)}),
            table.delete(),
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with engine.begin() as connection:
                    await connection.execute(attempt)
            refused.append(str(attempt).split()[0])
        async with engine.connect() as connection:
            rows = (await connection.execute(sa.select(table))).all()
        print(
            f"{database_urls.kind:10} {table.name:14} refused: {', '.join(refused)}; rows kept: {len(rows)}"
        )
        assert len(rows) == 1
        assert getattr(rows[0], when) == now
    finally:
        await engine.dispose()
