"""SQL plumbing: engines for SQLite (default) and PostgreSQL, migrations, and idempotency records."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.sqlite_driver import one_hop_module


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes stored as UTC and read back aware. SQLite has no time zones: without this a
    London 10:00 and a UTC 10:00 would be stored alike and compare wrongly."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        _ensure_sqlite_folder(url)
        # One hand-off to aiosqlite's thread per statement (shared/sqlite_driver.py).
        engine = create_async_engine(url, connect_args={"timeout": 30}, module=one_hop_module())
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _ensure_sqlite_folder(url: str) -> None:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (health checks, the API) run while a consumer writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def migrate(engine: AsyncEngine, script_location: Path, version_table: str) -> None:
    """Bring the schema to the newest revision, in one transaction, through the service's
    migrations/env.py as `alembic upgrade head` does. Each service keeps its own version table
    (`alembic_version_<service>`), which its env.py declares too.

    On PostgreSQL, instances of a service starting together migrate one at a time: the first
    holds an advisory lock for its migration's transaction, the others wait for it and then find
    the schema at head (two at once would both create the same tables, and one would fail)."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            lock = advisory_lock_key(f"migrate:{version_table}")
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        await connection.run_sync(_upgrade, script_location, version_table)


def advisory_lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) for `name`, the same in every
    process (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def alembic_config(script_location: Path, connection: Connection, version_table: str) -> Config:
    """An Alembic Config whose env.py (shared/alembic_env.py) runs on this connection, inside its
    transaction, rather than opening its own (Alembic's cookbook: "Sharing a Connection across
    one or more programmatic migration commands")."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    return config


def _upgrade(connection: Connection, script_location: Path, version_table: str) -> None:
    command.upgrade(alembic_config(script_location, connection, version_table), "head")


def insert_ignoring_duplicates(connection: AsyncConnection, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, in the connection's dialect. One statement object for
    each table and dialect, shared: SQLAlchemy statements are immutable (`.values()` returns a
    new one), and building this one again for each call was most of its cost."""
    return _insert_ignoring(connection.dialect.name, table)


async def insert_row_ignoring_duplicates(
    connection: AsyncConnection, table: sa.Table, row: Mapping[str, Any]
) -> CursorResult[Any]:
    """One row by `insert_ignoring_duplicates`, its values as parameters of the shared statement
    rather than `.values()`, which builds a statement and its cache key for each row again (0.3
    ms of CPU a row on the 2-core machine). The result's rowcount is 0 for a duplicate. Values
    are plain Python values, not SQL expressions (parameters are bound, not rendered)."""
    return await connection.execute(
        _insert_ignoring(connection.dialect.name, table), checked_rows(table, [row])[0]
    )


def checked_rows(table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows to pass as parameters to a table's insert (executemany), checked as `.values()`
    checks them: it refuses a key naming no column, where parameters alone would drop it unseen
    and leave the column at its default; and every row must name the same columns, or a key
    missing from the first row would be dropped from all of them."""
    first = rows[0].keys() if rows else set()
    for row in rows:
        if unknown := row.keys() - table.c.keys():
            raise ValueError(f"{table.name} has no column {', '.join(sorted(unknown))}")
        if row.keys() != first:
            raise ValueError(f"rows for {table.name} name different columns")
    return [dict(row) for row in rows]


@lru_cache(maxsize=256)  # every table of a process, under each dialect it uses
def _insert_ignoring(dialect: str, table: sa.Table) -> sa.Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def processed_events_table(metadata: sa.MetaData) -> sa.Table:
    """Idempotency: one row per event a consumer has applied, written in the same transaction as
    the effect, so a redelivered event finds its row and changes nothing."""
    return sa.Table(
        "processed_events",
        metadata,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", UtcDateTime, nullable=False),
        sa.Index("ix_processed_events_processed_at", "processed_at"),
    )


async def claim_event(
    connection: AsyncConnection, table: sa.Table, event_id: str, processed_at: Any
) -> bool:
    """True if this event was not applied before; the claim commits with the caller's effect."""
    result = await insert_row_ignoring_duplicates(
        connection, table, {"event_id": event_id, "processed_at": processed_at}
    )
    return bool(result.rowcount)
