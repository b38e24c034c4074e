"""The one-hand-off SQLite adapter (shared/sqlite_driver.py) against a real SQLite file: the row
counts, rows, last row ids, errors and transactions SQLAlchemy relies on are the stock adapter's,
and a statement costs one trip to aiosqlite's thread (the stock adapter takes three or four)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import create_engine

METADATA = sa.MetaData()
ROWS = sa.Table(
    "rows",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), unique=True, nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}")
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield engine
    await engine.dispose()


async def test_counts_rows_and_ids_are_the_stock_adapters(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(ROWS.insert().values(name="a"))
        assert inserted.rowcount == 1
        assert inserted.inserted_primary_key == (1,)
        many = await connection.execute(ROWS.insert(), [{"name": "b"}, {"name": "c"}])
        assert many.rowcount == 2
        updated = await connection.execute(
            ROWS.update().where(ROWS.c.id > 1).values(name=ROWS.c.name + "!")
        )
        assert updated.rowcount == 2
    async with engine.connect() as connection:
        names = (await connection.execute(sa.select(ROWS.c.name).order_by(ROWS.c.id))).scalars()
        assert list(names) == ["a", "b!", "c!"]
        nothing = await connection.execute(sa.select(ROWS).where(ROWS.c.id == 99))
        assert nothing.first() is None


async def test_an_error_is_sqlalchemys_and_rolls_the_transaction_back(engine: AsyncEngine) -> None:
    async def insert_twice() -> None:
        async with engine.begin() as connection:
            await connection.execute(ROWS.insert().values(name="kept-out"))
            await connection.execute(ROWS.insert().values(name="kept-out"))

    async def read_nothing() -> None:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT * FROM no_such_table"))

    with pytest.raises(sa.exc.IntegrityError):
        await insert_twice()
    with pytest.raises(sa.exc.OperationalError):
        await read_nothing()
    async with engine.connect() as connection:
        assert (
            await connection.execute(sa.select(sa.func.count()).select_from(ROWS))
        ).scalar() == 0


async def hand_offs(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many functions a select, an insert and an update send to aiosqlite's thread, on a
    connection already open (so neither count includes connecting)."""
    calls = 0
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async with engine.connect() as connection:
        await connection.execute(sa.select(1))
        with monkeypatch.context() as patch:
            patch.setattr(aiosqlite.Connection, "_execute", counted)
            await connection.execute(sa.select(ROWS))
            await connection.execute(ROWS.insert().values(name="counted"))
            await connection.execute(ROWS.update().values(name="again"))
        await connection.rollback()
    return calls


async def test_a_statement_is_one_trip_to_the_database_thread(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}")
    try:
        stock_trips = await hand_offs(stock, monkeypatch)
    finally:
        await stock.dispose()
    trips = await hand_offs(engine, monkeypatch)
    # The transaction's BEGIN is implicit in sqlite3: three statements, three trips.
    assert trips == 3, trips
    assert stock_trips >= 3 * trips, stock_trips
