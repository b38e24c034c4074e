"""SQL plumbing: engines for SQLite (default) and PostgreSQL, migrations, and idempotency records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


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
        engine = create_async_engine(url, connect_args={"timeout": 30})
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
    """Bring the schema to the newest revision. Each service keeps its own version table, so
    services may share one PostgreSQL database without touching each other's tables."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, script_location, version_table)


def _upgrade(connection: Connection, script_location: Path, version_table: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    script = ScriptDirectory.from_config(config)

    def upgrade(revision: Any, _: Any) -> Any:
        return script._upgrade_revs("head", revision)

    with EnvironmentContext(config, script, fn=upgrade, destination_rev="head") as context:
        context.configure(connection=connection, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()


def insert_ignoring_duplicates(connection: AsyncConnection, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


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
    result = await connection.execute(
        insert_ignoring_duplicates(connection, table).values(
            event_id=event_id, processed_at=processed_at
        )
    )
    return bool(result.rowcount)
