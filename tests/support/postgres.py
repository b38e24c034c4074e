"""A throwaway PostgreSQL cluster for the test session, from the Debian packages' binaries.

`TEST_POSTGRES_URL` (an admin URL such as postgresql://user:pw@host:5432/postgres) uses an existing
server instead. initdb refuses to run as root, so as root the cluster runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.kafka_broker import free_port


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found: `apt-get install postgresql` (CI's .ci/run does)"
    )


def client_tool(name: str) -> Path:
    """A PostgreSQL client program (pg_dump, pg_restore) of the same version as the cluster."""
    return _bin_dir() / name


@dataclass
class Cluster:
    admin_url: str
    data_dir: Path | None
    run_as: list[str]

    def describe(self) -> str:
        where = self.admin_url.rsplit("@", 1)[-1]
        if self.data_dir is None:
            return f"existing server at {where}"
        version = subprocess.run(
            [str(_bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        return f"{version}, throwaway cluster at {where}"

    def stop(self) -> None:
        if self.data_dir is None:
            return
        subprocess.run(
            [
                *self.run_as,
                str(_bin_dir() / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_cluster() -> Cluster:
    if url := os.environ.get("TEST_POSTGRES_URL"):
        return Cluster(url, None, [])
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    data = root / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        root.chmod(0o755)
    port = free_port()
    initdb = subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "--no-sync", "-E", "UTF8"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if initdb.returncode != 0:
        raise PostgresUnavailable(f"initdb failed: {initdb.stderr[-1000:]}")
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    )
    started = subprocess.run(
        [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
         "-w", "-t", "60", "start"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if started.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise PostgresUnavailable(f"pg_ctl start failed: {started.stderr[-500:]} {log[-1000:]}")
    time.sleep(0.2)
    return Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", data, run_as)


async def create_database(admin_url: str, name: str) -> str:
    """A fresh database per test; returns its SQLAlchemy asyncpg URL."""
    import asyncpg

    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"
