"""SQL plumbing: engines for SQLite (default) and PostgreSQL, migrations, and idempotency records."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from shared.sqlite_driver import one_hop_module

if TYPE_CHECKING:
    from alembic.config import Config


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
        # Most statements on the loop's thread, no hand-off (shared/sqlite_driver.py); `timeout` is
        # how long one that meets a lock, a COMMIT or a ROLLBACK waits on aiosqlite's thread.
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
    # No busy_timeout here: it is 0 on purpose, so a statement on the loop's thread never waits
    # for a lock there (shared/sqlite_driver.py waits on aiosqlite's thread instead).
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def migrate(engine: AsyncEngine, script_location: Path, version_table: str) -> None:
    """Bring the schema to the newest revision, in one transaction, through the service's
    migrations/env.py as `alembic upgrade head` does. Each service keeps its own version table
    (`alembic_version_<service>`), which its env.py declares too.

    A database already at the newest revision (every start but the first after a release) is
    left as it is without loading Alembic: Alembic, Mako and Pygments are 136 modules and about
    10 MB of every service's memory, kept for the process's life once imported, for work done at
    start-up only (`at_newest_revision`).

    On PostgreSQL, instances of a service starting together migrate one at a time: the first
    holds an advisory lock for its migration's transaction, the others wait for it and then find
    the schema at head (two at once would both create the same tables, and one would fail)."""
    if await at_newest_revision(engine, script_location, version_table):
        return
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            lock = advisory_lock_key(f"migrate:{version_table}")
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        await connection.run_sync(_upgrade, script_location, version_table)


async def at_newest_revision(
    engine: AsyncEngine, script_location: Path, version_table: str
) -> bool:
    """Whether the version table holds exactly the newest revision of `script_location`'s
    migrations. False whenever in doubt (no version table, several rows, no single newest
    revision found): Alembic then decides, as it always did."""
    newest = newest_revision(script_location)
    if newest is None:
        return False
    async with engine.connect() as connection:
        stored = await connection.run_sync(_stored_versions, version_table)
    return stored == [newest]


def _stored_versions(connection: Connection, version_table: str) -> list[str] | None:
    if not sa.inspect(connection).has_table(version_table):
        return None
    table = sa.table(version_table, sa.column("version_num", sa.String))
    return list(connection.execute(sa.select(table.c.version_num)).scalars())


@lru_cache(maxsize=8)
def newest_revision(script_location: Path) -> str | None:
    """The one revision of `script_location/versions` that no other revises, read from each
    file's `revision` and `down_revision` assignments without importing it (as Alembic reads
    them, after importing). None unless every file states both as plain strings (a tuple for a
    merge) and exactly one such revision is left. tests/unit/test_migration_heads.py checks that
    this is Alembic's own head for every service."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((script_location / "versions").glob("*.py")):
        if path.name.startswith((".#", "__init__")):
            continue  # not revisions to Alembic either (an editor's lock file, a package marker)
        stated = _revision_assignments(path)
        if stated is None:
            return None
        revision, down = stated
        revisions.add(revision)
        revised.update(down)
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 and revised <= revisions else None


def _revision_assignments(path: Path) -> tuple[str, tuple[str, ...]] | None:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                found[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                return None
    revision, down = found.get("revision"), found.get("down_revision", ...)
    if not isinstance(revision, str):
        return None
    if down is None:
        return revision, ()
    if isinstance(down, str):
        return revision, (down,)
    if isinstance(down, tuple | list) and all(isinstance(item, str) for item in down):
        return revision, tuple(down)
    return None


def advisory_lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit integer) for `name`, the same in every
    process (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def alembic_config(script_location: Path, connection: Connection, version_table: str) -> Config:
    """An Alembic Config whose env.py (shared/alembic_env.py) runs on this connection, inside its
    transaction, rather than opening its own (Alembic's cookbook: "Sharing a Connection across
    one or more programmatic migration commands")."""
    from alembic.config import Config  # only when migrating: see migrate()

    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    return config


def _upgrade(connection: Connection, script_location: Path, version_table: str) -> None:
    from alembic import command  # only when migrating: see migrate()

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
