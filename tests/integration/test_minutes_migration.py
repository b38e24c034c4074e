"""The minutes revision (meeting_scheduler 0009) builds exactly the tables the code queries with
(columns, types, nullability, indexes: Alembic's own comparison finds no difference), and its
downgrade takes them away again, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from services.meeting_scheduler.adapters import tables
from shared.db import alembic_config, create_engine, migrate
from tests.support.databases import DatabaseUrls

pytestmark = pytest.mark.integration

LOCATION = Path(__file__).resolve().parents[2] / "services" / "meeting_scheduler" / "migrations"
VERSION_TABLE = "alembic_version_meeting_scheduler"
MINUTES_TABLES = {"meeting_attendance", "meeting_decisions", "meeting_actions"}


def _differences(connection: Connection) -> list[Any]:
    def ours(item: Any, name: str | None, type_: str, *_: Any) -> bool:
        if type_ == "table":
            return name in MINUTES_TABLES
        return getattr(getattr(item, "table", None), "name", None) in MINUTES_TABLES

    context = MigrationContext.configure(
        connection, opts={"include_object": ours, "compare_type": True}
    )
    return list(compare_metadata(context, tables.metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def _downgrade(connection: Connection) -> None:
    command.downgrade(alembic_config(LOCATION, connection, VERSION_TABLE), "meeting_scheduler_0008")


async def test_minutes_tables_match_the_code_and_downgrade(database_urls: DatabaseUrls) -> None:
    engine = create_engine(await database_urls.new("meetings"))
    try:
        await migrate(engine, LOCATION, VERSION_TABLE)
        async with engine.connect() as connection:
            assert await connection.run_sync(_table_names) >= MINUTES_TABLES
            assert await connection.run_sync(_differences) == []
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade)
        async with engine.connect() as connection:
            assert not MINUTES_TABLES & await connection.run_sync(_table_names)
    finally:
        await engine.dispose()
