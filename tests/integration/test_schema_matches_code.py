"""Each service's tables as its code declares them are the tables its migrations build, indexes
included, on SQLite and on PostgreSQL. The code's `sa.Table`s are what its statements are written
against and what a reader takes for the schema; an index made only by a migration (seven of them
were, until round two's twenty-first part) is one a reader cannot see, and a column or index
declared only in the code is one no database has."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from shared.db import create_engine, migrate
from tests.support.databases import DatabaseUrls

pytestmark = pytest.mark.integration

SERVICES = ("intake", "notifier", "casework", "meeting_scheduler")


def _differences(metadata: sa.MetaData, version_table: str) -> Any:
    def ours(_item: Any, name: str | None, type_: str, *_: Any) -> bool:
        return not (type_ == "table" and name == version_table)

    def found(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"include_object": ours, "compare_type": True}
        )
        return list(compare_metadata(context, metadata))

    return found


@pytest.mark.parametrize("service", SERVICES)
async def test_the_migrated_schema_is_the_one_the_code_declares(
    database_urls: DatabaseUrls, service: str
) -> None:
    main = importlib.import_module(f"services.{service}.main")  # imports every table module
    metadata = importlib.import_module(f"services.{service}.adapters.tables").metadata
    migrations: Path = main.MIGRATIONS
    version_table = f"alembic_version_{service}"
    engine = create_engine(await database_urls.new(service))
    try:
        await migrate(engine, migrations, version_table=version_table)
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences(metadata, version_table))
        assert differences == []
        assert len(metadata.tables) > 3  # the declarations were found at all
    finally:
        await engine.dispose()
