"""One fresh database per service per test: SQLite files or PostgreSQL databases."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.support.postgres import Cluster, create_database


class DatabaseUrls:
    def __init__(self, kind: str, tmp_path: Path, cluster: Cluster | None) -> None:
        self.kind, self._tmp, self._cluster = kind, tmp_path, cluster

    async def new(self, service: str) -> str:
        if self._cluster is None:
            return f"sqlite+aiosqlite:///{self._tmp / service}.sqlite3"
        return await create_database(self._cluster.admin_url, f"{service}_{uuid.uuid4().hex[:12]}")
