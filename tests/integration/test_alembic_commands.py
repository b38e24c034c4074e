"""Operators' Alembic commands, run as an operator runs them: the `alembic` console script as a
separate process, from the project root, given only the service's database URL variable. On a
database a service migrated on start, `current` prints the head revision, `history` lists every
revision, `downgrade -1` and `upgrade head` round-trip (the notifier's), and each service reads
its own version table, on SQLite and PostgreSQL; and `current` works against a running service's
database."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shared.db import create_engine, migrate
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.live import ENV_PREFIX, SERVICES, ServiceProcess, service_env

pytestmark = pytest.mark.integration

MIGRATIONS = {name: system.ROOT / "services" / name / "migrations" for name in SERVICES}
# The console script pip installed beside this interpreter, as an operator's shell finds it.
ALEMBIC = Path(sys.executable).parent / "alembic"


@dataclass(frozen=True)
class Chain:
    """A service's revisions read from its version files' text, not through Alembic."""

    down_of: dict[str, str | None]

    @property
    def head(self) -> str:
        (head,) = set(self.down_of) - set(self.down_of.values())
        return head

    @property
    def before_head(self) -> str:
        previous = self.down_of[self.head]
        assert previous is not None
        return previous


def chain(service: str) -> Chain:
    down_of: dict[str, str | None] = {}
    for path in (MIGRATIONS[service] / "versions").glob("*.py"):
        text = path.read_text()
        revision = re.search(r'^revision = "([^"]+)"', text, re.M)
        down = re.search(r'^down_revision = (?:"([^"]+)"|None)', text, re.M)
        assert revision, path
        assert down, path
        down_of[revision[1]] = down[1]
    return Chain(down_of)


async def alembic(service: str, database_url: str, *args: str) -> str:
    """`alembic -c services/<service>/alembic.ini <args>` with nothing but the service's own
    database variable set (no SAFEGUARDING_ENV, no secrets); its standard output."""
    env = {"PATH": os.environ["PATH"], f"{ENV_PREFIX[service]}_DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        str(ALEMBIC), "-c", f"services/{service}/alembic.ini", *args,
        cwd=system.ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, f"alembic {' '.join(args)}: {err.decode()}"
    return out.decode()


def _versions_and_schema(connection: Connection) -> dict[str, Any]:
    inspector = sa.inspect(connection)
    tables = sorted(inspector.get_table_names())
    versions = {
        table: connection.execute(sa.text(f"SELECT version_num FROM {table}")).scalars().all()
        for table in tables
        if table.startswith("alembic_version")
    }
    columns = {t: sorted(c["name"] for c in inspector.get_columns(t)) for t in tables}
    indexes = {t: sorted(str(i["name"]) for i in inspector.get_indexes(t)) for t in tables}
    return {"versions": versions, "columns": columns, "indexes": indexes}


async def read(database_url: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_versions_and_schema)
    finally:
        await engine.dispose()


async def migrated(database_urls: DatabaseUrls, service: str) -> str:
    """A fresh database brought to head as the service does on start (shared/app.py)."""
    url = await database_urls.new(service)
    engine = create_engine(url)
    try:
        await migrate(engine, MIGRATIONS[service], version_table=f"alembic_version_{service}")
    finally:
        await engine.dispose()
    return url


@pytest.mark.parametrize("service", list(MIGRATIONS))
async def test_current_reads_the_services_own_version_table(
    database_urls: DatabaseUrls, service: str
) -> None:
    url = await migrated(database_urls, service)
    head = chain(service).head
    # Its own table, and no `alembic_version` of Alembic's default name beside it.
    assert (await read(url))["versions"] == {f"alembic_version_{service}": [head]}
    assert (await alembic(service, url, "current")).split() == [head, "(head)"]


@pytest.mark.parametrize("service", list(MIGRATIONS))
async def test_history_lists_every_revision(service: str) -> None:
    # History reads the scripts only: no database is opened, whatever the URL.
    history = await alembic(service, "sqlite+aiosqlite:///unused.sqlite3", "history")
    assert set(re.findall(rf"\b{service}_\d{{4}}\b", history)) == set(chain(service).down_of)


async def test_downgrade_one_step_and_upgrade_again(database_urls: DatabaseUrls) -> None:
    service, revisions = "notifier", chain("notifier")
    table = f"alembic_version_{service}"
    url = await migrated(database_urls, service)
    before = await read(url)

    await alembic(service, url, "downgrade", "-1")
    downgraded = await read(url)
    assert downgraded["versions"] == {table: [revisions.before_head]}
    assert (downgraded["columns"], downgraded["indexes"]) != (before["columns"], before["indexes"])

    await alembic(service, url, "upgrade", "head")
    assert await read(url) == before
    assert (await alembic(service, url, "current")).split() == [revisions.head, "(head)"]


async def test_current_against_a_running_service(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, tmp_path: Path
) -> None:
    url = await database_urls.new("intake")
    service = ServiceProcess(
        "intake",
        service_env("intake", kafka_bootstrap, topic_prefix, url, tmp_path, {}),
        tmp_path / "intake.log",
    )
    service.spawn()
    try:
        await service.wait_ready()  # migrated on start, connected to Kafka
        assert (await alembic("intake", url, "current")).split() == [chain("intake").head, "(head)"]
        assert service.running()
    finally:
        service.terminate()
