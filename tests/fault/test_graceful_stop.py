"""SIGTERM a service while its handler is mid-work: the record is processed after the restart,
exactly once, not skipped.

To be sure the handler really is mid-work when the signal arrives, the test holds a lock on the
casework database (SQLite: an exclusive transaction from another connection; PostgreSQL: LOCK
TABLE tasks) before the contact arrives, and sends SIGTERM only once the handler is seen blocked
on it. The lock is released only after the process has exited."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fault.conftest import Sinks, generator, report, settled
from tests.support.ground_truth import summary, unacknowledged_owed
from tests.support.live import LiveSystem, ServiceProcess

pytestmark = pytest.mark.fault


@contextlib.contextmanager
def sqlite_write_lock(url: str) -> Iterator[None]:
    connection = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@contextlib.asynccontextmanager
async def postgres_table_lock(url: str, table: str) -> AsyncIterator[None]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            transaction = await connection.begin()
            await connection.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            yield
            await transaction.rollback()
    finally:
        await engine.dispose()


async def in_flight(service: ServiceProcess) -> int:
    """Records the service's consumers are handling now (FastStream's own gauge on /metrics, open
    without a token in the test environment)."""
    async with httpx.AsyncClient(timeout=5) as client:
        exposition = (await client.get(f"{service.url}/metrics")).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in exposition.splitlines()
        if line.startswith("faststream_received_messages_in_process{")
    )


async def handler_blocked(service: ServiceProcess, steady_for: float = 2.0) -> None:
    """Wait until a record has been in the handler, unfinished, for `steady_for` seconds."""
    deadline = time.monotonic() + 30
    since: float | None = None
    while True:
        if await in_flight(service) > 0:
            since = since or time.monotonic()
            if time.monotonic() - since >= steady_for:
                return
        else:
            since = None
        assert time.monotonic() < deadline, f"no {service.name} handler reached the lock"
        await asyncio.sleep(0.1)


async def test_sigterm_mid_handler_processes_the_record_after_restart(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    sinks: Sinks,
    service_databases: dict[str, str],
    database_kind: str,
) -> None:
    url = service_databases["casework"]
    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port,
    ) as live:  # fmt: skip
        casework = live["casework"]
        async with contextlib.AsyncExitStack() as lock:
            if database_kind == "sqlite":
                lock.enter_context(sqlite_write_lock(url))
            else:
                await lock.enter_async_context(postgres_table_lock(url, "tasks"))
            gen = generator(live["intake"].url, kafka_bootstrap, topic_prefix, "graceful")
            gen.kafka_share = 0.0
            contacts = await gen.run(1, 1.0)
            await handler_blocked(casework)
            signalled = time.monotonic()
            exit_code = casework.terminate(timeout=60)
            stop_seconds = time.monotonic() - signalled
        # The lock is released; the record must not have been committed as consumed.
        recovered = await live.restart("casework")
        found, settle_seconds = await settled(service_databases, contacts, sinks, within=60)

    report(
        f"graceful stop ({database_kind})",
        summary(contacts)
        | {"SIGTERM exit code": exit_code, "stopped after s": round(stop_seconds, 1),
           "ready again s": round(recovered, 1), "tasks after restart s": round(settle_seconds, 1)},
        found, contacts,
    )  # fmt: skip
    assert not unacknowledged_owed(contacts), (
        "intake did not accept the contact: nothing was tested"
    )
    assert found.problems(contacts) == {}
