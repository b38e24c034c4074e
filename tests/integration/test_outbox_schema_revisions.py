"""The operations revisions (intake 0005, notifier 0005, casework 0005, meeting_scheduler 0008):
each upgrade adds the outbox's trace context (and the notifier's alerts' and notifications') and
the housekeeping indexes that the tables' metadata declares, and each downgrade takes them away
again, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from services.casework.adapters import tables as casework_tables
from services.intake.adapters import tables as intake_tables
from services.meeting_scheduler.adapters import tables as meeting_tables
from services.notifier.adapters import tables as notifier_tables
from shared.db import alembic_config, create_engine, migrate
from tests.support.databases import DatabaseUrls

pytestmark = pytest.mark.integration

SERVICES = Path(__file__).resolve().parents[2] / "services"

# service, its revision before the operations one, its metadata
CASES = [
    ("intake", "intake_0004", intake_tables.metadata),
    ("notifier", "notifier_0004", notifier_tables.metadata),
    ("casework", "casework_0004", casework_tables.metadata),
    ("meeting_scheduler", "meeting_scheduler_0007", meeting_tables.metadata),
]


def _downgrade(connection: Connection, script_location: Path, table: str, target: str) -> None:
    command.downgrade(alembic_config(script_location, connection, table), target)


def _schema(connection: Connection) -> dict[str, Any]:
    inspector = sa.inspect(connection)
    tables = set(inspector.get_table_names())
    return {
        "outbox_columns": {c["name"] for c in inspector.get_columns("outbox")},
        "outbox_indexes": {i["name"] for i in inspector.get_indexes("outbox")},
        "processed_indexes": (
            {i["name"] for i in inspector.get_indexes("processed_events")}
            if "processed_events" in tables
            else set()
        ),
        "notification_columns": (
            {c["name"] for c in inspector.get_columns("notifications")}
            if "notifications" in tables
            else set()
        ),
        "alert_columns": (
            {c["name"] for c in inspector.get_columns("alerts")} if "alerts" in tables else set()
        ),
    }


@pytest.mark.parametrize(("service", "previous", "metadata"), CASES, ids=[c[0] for c in CASES])
async def test_revision_upgrades_and_downgrades(
    database_urls: DatabaseUrls, service: str, previous: str, metadata: sa.MetaData
) -> None:
    engine = create_engine(await database_urls.new(service))
    location, version_table = SERVICES / service / "migrations", f"alembic_version_{service}"
    try:
        await migrate(engine, location, version_table)
        async with engine.connect() as connection:
            upgraded = await connection.run_sync(_schema)
        assert "trace_context" in upgraded["outbox_columns"]
        assert "ix_outbox_unpublished" in upgraded["outbox_indexes"]
        # What the migrations built is what the metadata the code queries with declares.
        declared = {i.name for i in metadata.tables["outbox"].indexes}
        assert declared <= upgraded["outbox_indexes"]
        if "processed_events" in metadata.tables:
            assert "ix_processed_events_processed_at" in upgraded["processed_indexes"]
        if service == "notifier":
            assert "trace_context" in upgraded["notification_columns"]
            assert "trace_context" in metadata.tables["notifications"].c
            assert "trace_context" in upgraded["alert_columns"]
            assert "trace_context" in metadata.tables["alerts"].c

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, location, version_table, previous)
        async with engine.connect() as connection:
            downgraded = await connection.run_sync(_schema)
        assert "trace_context" not in downgraded["outbox_columns"]
        assert "ix_outbox_unpublished" not in downgraded["outbox_indexes"]
        assert "ix_processed_events_processed_at" not in downgraded["processed_indexes"]
        assert "trace_context" not in downgraded["notification_columns"]
        assert "trace_context" not in downgraded["alert_columns"]
        # The columns that were there before survive the downgrade (SQLite rebuilds the table).
        assert {"event_id", "published_at", "payload"} <= downgraded["outbox_columns"]

        await migrate(engine, location, version_table)  # and up again
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema) == upgraded
    finally:
        await engine.dispose()
