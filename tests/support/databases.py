"""One fresh database per service per test: SQLite files or PostgreSQL databases."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa

from shared.db import create_engine
from tests.support.postgres import Cluster, create_database
from tests.support.waiting import eventually


class DatabaseUrls:
    def __init__(self, kind: str, tmp_path: Path, cluster: Cluster | None) -> None:
        self.kind, self._tmp, self._cluster = kind, tmp_path, cluster

    async def new(self, service: str) -> str:
        if self._cluster is None:
            return f"sqlite+aiosqlite:///{self._tmp / service}.sqlite3"
        return await create_database(self._cluster.admin_url, f"{service}_{uuid.uuid4().hex[:12]}")


async def count_rows(database_url: str, query: sa.Select[int]) -> int:
    """One count from a service's database, read as the service wrote it."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            count: int = (await connection.execute(query)).scalar_one()
            return count
    finally:
        await engine.dispose()


OUTBOX = sa.table("outbox", sa.column("published_at"))


async def wait_outbox_relayed(database_url: str, within: float = 15.0) -> int:
    """Wait until a service's outbox holds no unpublished event: everything it will relay for what
    it has done so far is on the broker. Returns how many events its outbox holds (relayed rows
    are kept until their retention ends)."""
    unpublished = (
        sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
    )
    await eventually(
        lambda: count_rows(database_url, unpublished), lambda n: n == 0, within=within,
        what="outbox relayed",
    )  # fmt: skip
    return await count_rows(database_url, sa.select(sa.func.count()).select_from(OUTBOX))
