"""Alembic's env.py, written once for the four services: each services/<name>/migrations/env.py
calls `run_env` with its settings class and version table.

Two callers come through here. A service on start (shared/db.py `migrate`) hands its own
connection, already inside a transaction, in `config.attributes` (Alembic's cookbook, "Sharing a
Connection across one or more programmatic migration commands"). An operator runs the `alembic`
command (`alembic -c services/<name>/alembic.ini current`); then the database URL is read exactly
as the service reads it (its env prefix, its default) and an async engine is driven through
`run_sync` (the cookbook's asyncio recipe)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.util import CommandError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Connection

from shared.db import create_engine
from shared.settings import ServiceSettings


def run_env(settings: type[ServiceSettings], version_table: str) -> None:
    """The body of a service's env.py. `version_table` is the service's own, named for it, so the
    operator's command reads the very table the service writes on start."""
    config = context.config
    shared_connection: Connection | None = config.attributes.get("connection")
    if shared_connection is not None:
        _check_same_table(config.attributes.get("version_table"), version_table)
        _run_migrations(shared_connection, version_table)
        return
    _log_to_terminal()
    if context.is_offline_mode():  # `--sql`: print the SQL for a DBA instead of running it
        context.configure(
            url=database_url(settings),
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            version_table=version_table,
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(_run_from_command_line(settings, version_table))


def database_url(settings: type[ServiceSettings]) -> str:
    """The service's database URL as the service itself would read it, and nothing else: an
    operator needs no secrets (nor SAFEGUARDING_ENV) to look at the schema version."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    default = settings.model_fields["database_url"].default

    class DatabaseOnly(BaseSettings):
        # Same resolution rules as the service's settings (case-insensitive names, the prefix).
        model_config = SettingsConfigDict(env_prefix=prefix, extra="ignore")
        database_url: str = default

    return DatabaseOnly().database_url


def _check_same_table(given: Any, declared: str) -> None:
    # The table the service writes on start must be the one the operator's command reads.
    if given is not None and given != declared:
        raise CommandError(f"version table {given!r} given, but env.py declares {declared!r}")


def _run_migrations(connection: Connection, version_table: str) -> None:
    context.configure(connection=connection, version_table=version_table)
    # Inside migrate()'s transaction this joins it; from the command line it is the transaction.
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_command_line(settings: type[ServiceSettings], version_table: str) -> None:
    url = database_url(settings)
    _refuse_missing_sqlite_file(url, settings)
    # shared.db's engine: the same SQLite pragmas (foreign keys, busy timeout) as the service.
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations, version_table)
    finally:
        await engine.dispose()


def _refuse_missing_sqlite_file(url: str, settings: type[ServiceSettings]) -> None:
    # The default SQLite path is relative to the working directory: run from elsewhere, SQLite
    # would quietly create an empty database and `current` would print nothing.
    parsed = sa.engine.make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if not Path(path).exists():
        prefix = str(settings.model_config.get("env_prefix", "")).upper()
        raise CommandError(
            f"no SQLite database at {Path(path).absolute()}: run from the directory the "
            f"service runs in, or set {prefix}DATABASE_URL"
        )


def _log_to_terminal() -> None:
    # Command line only (a service's logging is its own): Alembic's "Running upgrade a -> b".
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.INFO)
