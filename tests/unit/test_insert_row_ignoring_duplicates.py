"""shared/db.py insert_row_ignoring_duplicates: one row through the shared INSERT ... ON CONFLICT
DO NOTHING, as `.values()` would insert it, on a real SQLite database; and checked_rows, the same
check for several rows passed as executemany parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import (
    UtcDateTime,
    checked_rows,
    claim_event,
    create_engine,
    insert_ignoring_duplicates,
    insert_row_ignoring_duplicates,
    processed_events_table,
)

metadata = sa.MetaData()
processed = processed_events_table(metadata)
rows = sa.Table(
    "rows",
    metadata,
    sa.Column("id", sa.String(8), primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("flag", sa.Boolean, nullable=False, server_default=sa.false()),
)
AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
    async with made.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield made
    await made.dispose()


async def test_a_row_goes_in_once_and_a_duplicate_counts_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        first = await insert_row_ignoring_duplicates(connection, rows, {"id": "a", "at": AT})
        again = await insert_row_ignoring_duplicates(connection, rows, {"id": "a", "at": AT})
        stored = (await connection.execute(sa.select(rows))).all()
    assert (first.rowcount, again.rowcount) == (1, 0)
    assert stored == [("a", AT, False)]  # the server default fills the column left out


async def test_a_key_naming_no_column_is_refused_as_values_refuses_it(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        with pytest.raises(ValueError, match="rows has no column flga"):
            await insert_row_ignoring_duplicates(
                connection, rows, {"id": "b", "at": AT, "flga": True}
            )
        with pytest.raises(sa.exc.CompileError, match="flga"):  # what the helper matches
            await connection.execute(
                insert_ignoring_duplicates(connection, rows).values(id="b", at=AT, flga=True)
            )


async def test_the_shared_statement_is_not_changed_by_a_caller_adding_values(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        shared = insert_ignoring_duplicates(connection, rows)
        shared.values(id="c", at=AT, flag=True)  # generative: a new statement
        assert insert_ignoring_duplicates(connection, rows) is shared
        await insert_row_ignoring_duplicates(connection, rows, {"id": "d", "at": AT})
        assert await claim_event(connection, processed, "e1", AT)
        assert not await claim_event(connection, processed, "e1", AT)
        stored = (await connection.execute(sa.select(rows.c.id, rows.c.flag))).all()
    assert stored == [("d", False)]


async def test_rows_as_parameters_are_checked_as_values_checks_them(engine: AsyncEngine) -> None:
    good = [{"id": "f", "at": AT, "flag": True}, {"id": "g", "at": AT, "flag": False}]
    with pytest.raises(ValueError, match="rows has no column flga"):
        checked_rows(rows, [*good, {"id": "h", "at": AT, "flga": True}])
    # A key missing from the first row would be dropped from every row: refused too.
    with pytest.raises(ValueError, match="rows for rows name different columns"):
        checked_rows(rows, [{"id": "h", "at": AT}, *good])
    async with engine.begin() as connection:
        # Without the check, executemany drops the misspelt key and leaves the default.
        await connection.execute(
            insert_ignoring_duplicates(connection, rows), [{"id": "i", "at": AT, "flga": True}]
        )
        await connection.execute(
            insert_ignoring_duplicates(connection, rows), checked_rows(rows, good)
        )
        stored = (await connection.execute(sa.select(rows.c.id, rows.c.flag))).all()
    assert sorted(stored) == [("f", True), ("g", False), ("i", False)]
