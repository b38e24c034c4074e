"""The SQLite adapter (shared/sqlite_driver.py) against a real SQLite file: the row counts, rows,
last row ids, errors and transactions SQLAlchemy relies on are the stock adapter's; a statement
runs on the loop's thread with no trip to aiosqlite's thread (the stock adapter takes three or
four); a statement that meets a lock waits for it on that thread, never on the loop's."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.db import _sqlite_pragmas, create_engine
from shared.sqlite_driver import (
    _CountingConnection,
    _patiently,
    on_database_thread,
    one_hop_module,
)

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


async def test_a_statement_takes_no_trip_to_the_database_thread(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}")
    try:
        stock_trips = await hand_offs(stock, monkeypatch)
    finally:
        await stock.dispose()
    trips = await hand_offs(engine, monkeypatch)
    # Three statements (the BEGIN is implicit in sqlite3) on the loop's thread; the ROLLBACK, which
    # is outside the count, is the transaction's one trip.
    assert trips == 0, trips
    assert stock_trips >= 9, stock_trips


async def test_a_commit_goes_to_the_database_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    original = aiosqlite.Connection._execute

    async def noted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append("handed")
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async with engine.connect() as connection:
        await connection.execute(sa.select(1))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", noted)
        await connection.execute(ROWS.insert().values(name="committed"))
        assert threads == []
        await connection.commit()
        assert threads == ["handed"]  # the COMMIT (it waits for the disk), not the INSERT


async def longest_stall_during(statement: Any) -> tuple[float, float]:
    """How long `statement()` took and the longest the loop went without running a 10 ms ticker
    meanwhile."""
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    try:
        started = time.monotonic()
        await statement()
        ended = time.monotonic()
    finally:
        ticker.cancel()
    during = [started, *(t for t in ticks if started < t < ended), ended]
    return ended - started, max(later - earlier for earlier, later in itertools.pairwise(during))


async def test_a_statement_meeting_a_lock_waits_off_the_loop_until_the_lock_is_free(
    engine: AsyncEngine,
) -> None:
    """One connection holds the write lock; another's insert must wait for it without stopping
    the loop (if it waited on the loop's thread, the holder could never commit: a stall until the
    timeout and then 'database is locked')."""
    async with engine.connect() as holder, engine.connect() as waiter:
        await holder.execute(ROWS.insert().values(name="first"))  # takes the write lock

        async def release_later() -> None:
            await asyncio.sleep(0.3)
            await holder.commit()

        releasing = asyncio.create_task(release_later())
        took, stall = await longest_stall_during(
            lambda: waiter.execute(ROWS.insert().values(name="second"))
        )
        await waiter.commit()
        await releasing
    assert took >= 0.2, took  # it did wait for the holder …
    assert stall < 0.2, stall  # … and the loop ran all the while
    async with engine.connect() as connection:
        names = (await connection.execute(sa.select(ROWS.c.name).order_by(ROWS.c.id))).scalars()
        assert list(names) == ["first", "second"]


async def test_a_lock_held_past_the_patience_is_sqlalchemys_operational_error(
    tmp_path: Path,
) -> None:
    impatient = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'locked.sqlite3'}",
        connect_args={"timeout": 0.2},
        module=one_hop_module(),
    )
    sa.event.listen(impatient.sync_engine, "connect", _sqlite_pragmas)  # WAL, as the services
    try:
        async with impatient.begin() as connection:
            await connection.run_sync(METADATA.create_all)
        async with impatient.connect() as holder, impatient.connect() as waiter:
            await holder.execute(ROWS.insert().values(name="held"))
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                await waiter.execute(ROWS.insert().values(name="refused"))
            assert 0.15 <= time.monotonic() - started < 5
            await holder.commit()
    finally:
        await impatient.dispose()


async def test_the_loop_keeps_off_a_connection_while_its_thread_still_has_work(
    engine: AsyncEngine,
) -> None:
    """A cancelled caller can leave its function queued or running on aiosqlite's thread; the
    loop's thread must not use the sqlite3 connection until that function has finished."""
    async with engine.connect() as connection:
        await connection.execute(sa.select(1))
        raw = await connection.get_raw_connection()
        counting: Any = raw.driver_connection
        assert counting.usable_here() is not None
        release = threading.Event()
        entered = threading.Event()

        def held() -> None:
            entered.set()
            release.wait(5)

        left_behind = asyncio.ensure_future(counting._execute(held))
        await asyncio.to_thread(entered.wait, 5)
        assert counting.usable_here() is None
        release.set()
        await left_behind
        assert counting.usable_here() is not None


LONG_COUNT = sa.text(
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :upto) "
    "SELECT count(*) FROM n"
)


async def test_a_whole_table_statement_holds_the_thread_not_the_loop(engine: AsyncEngine) -> None:
    """A statement that takes a while: undecorated it runs on the loop's thread and stalls the
    loop for its whole length (which is why the decorator exists); in a function decorated
    `@on_database_thread` the loop runs all the while, and the flag ends with the function."""

    async def count(connection: Any, upto: int) -> None:
        assert (await connection.execute(LONG_COUNT, {"upto": upto})).scalar() == upto

    @on_database_thread
    async def count_on_thread(connection: Any, upto: int) -> None:
        await count(connection, upto)

    async with engine.connect() as connection:
        await connection.execute(sa.select(1))
        upto = 1_000_000
        while True:  # long enough to tell a stall from the loop's own pauses, on any machine
            took, stall = await longest_stall_during(partial(count, connection, upto))
            if took >= 0.3 or upto >= 64_000_000:
                break
            upto *= 2
        assert stall >= 0.9 * took, (took, stall)  # on the loop: one long stall
        took, stall = await longest_stall_during(partial(count_on_thread, connection, upto))
        assert took >= 0.2, took
        assert stall < took / 3, (took, stall)  # on the thread: the loop ran
        raw = await connection.get_raw_connection()
        counting: Any = raw.driver_connection
        handed = counting._handed
        await connection.execute(sa.select(1))
        assert counting._handed == handed  # after the function, statements are the loop's again


async def test_setting_the_isolation_level_is_counted_as_work_on_the_thread(
    engine: AsyncEngine,
) -> None:
    """SQLAlchemy's own setter queues its function on aiosqlite's thread past the count that
    `usable_here` trusts; ours goes through the counted hand-off."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        counting: Any = raw.driver_connection
        before = counting._handed
        await connection.run_sync(
            lambda sync: setattr(raw.dbapi_connection, "isolation_level", None)
        )
        assert counting._handed == before + 1
        assert counting.isolation_level is None
        assert counting.usable_here() is not None


async def test_a_connection_whose_busy_timeout_was_not_reset_stays_off_the_loop(
    tmp_path: Path,
) -> None:
    """The loop's thread must never wait for a lock: if putting the busy timeout back to 0 fails
    after a patient statement (here the statement closes the connection, so the reset raises),
    the connection is not used on the loop again."""
    connector = partial(sqlite3.connect, str(tmp_path / "alone.sqlite3"), check_same_thread=False)
    counting = _CountingConnection(connector, patience_ms=100)
    await counting
    try:
        assert counting.usable_here() is not None
        await counting._execute(_patiently, counting, lambda: None)
        assert counting.usable_here() is not None  # a reset that worked: the loop may use it
        with pytest.raises(sqlite3.ProgrammingError):
            await counting._execute(_patiently, counting, counting._conn.close)
        assert counting.usable_here() is None
    finally:
        await counting.close()
