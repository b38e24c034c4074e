"""Every service process runs on uvloop and parses HTTP with httptools, as the run command starts it:
the four services under `faststream run`, the console under `uvicorn`. Asked of each process (its
`serving` log line, shared/runtime.py), not of this test's own loop; and each still reaches Kafka
and its database (aiosqlite's thread, asyncpg) and stops cleanly on SIGTERM on that loop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.kafka_broker import free_port
from deploy.processes import die_with_parent, stop_process
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.live import SERVICES, ServiceProcess, service_env
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

UVLOOP = "uvloop.Loop"
HTTPTOOLS = "httptools"


def records(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def serving(log: Path) -> list[dict[str, Any]]:
    return [record for record in records(log) if record.get("event") == "serving"]


async def test_services_run_on_uvloop_with_httptools(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, database_urls: DatabaseUrls
) -> None:
    for config in ("rota.yaml", "alerting.yaml"):
        (tmp_path / config).write_text((system.ROOT / "deploy" / "config" / config).read_text())
    processes = [
        ServiceProcess(
            name,
            service_env(
                name, kafka_bootstrap, topic_prefix, await database_urls.new(name), tmp_path, {}
            ),
            tmp_path / f"{name}.log",
        )
        for name in SERVICES
    ]
    try:
        for process in processes:
            process.spawn()
        # Ready: each reached Kafka and migrated its database on this loop.
        await asyncio.gather(*(process.wait_ready() for process in processes))
        for process in processes:
            reports = serving(process.log)
            assert len(reports) == 1, (process.name, reports)  # once, on the first request
            assert reports[0]["event_loop"] == UVLOOP, (process.name, reports[0])
            assert reports[0]["http_parser"] == HTTPTOOLS, (process.name, reports[0])
            assert reports[0]["service"] == process.name
            async with httpx.AsyncClient() as client:  # and it goes on serving
                assert (await client.get(f"{process.url}/healthz")).status_code == 200
    finally:
        codes = {p.name: p.terminate() for p in processes if p.process is not None}
    # uvicorn's signal handling and the shutdown hooks (outbox relay, engine) on uvloop: a clean
    # stop (uvicorn re-raises the SIGTERM it caught once shut down: -15, not a kill's -9).
    assert codes == dict.fromkeys(SERVICES, -signal.SIGTERM), codes
    for process in processes:
        assert stopped_cleanly(process.log), process.name


def stopped_cleanly(log: Path) -> bool:
    events = {record.get("event") for record in records(log)}
    return {"FastStream app shut down gracefully.", "Application shutdown complete."} <= events


async def test_console_runs_on_uvloop_with_httptools(tmp_path: Path) -> None:
    port = free_port()
    unreachable = f"http://127.0.0.1:{free_port()}"  # the console asks them only for pages
    env = dict(os.environ) | {
        "SAFEGUARDING_ENV": "test",
        "LOG_LEVEL": "INFO",
        "STAFF_OIDC_ISSUER": f"{unreachable}/realms/safeguarding",  # read on first sign-in only
        "STAFF_OIDC_AUDIENCE": "safeguarding-api",
        "CONSOLE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CONSOLE_INTAKE_URL": unreachable,
        "CONSOLE_NOTIFIER_URL": unreachable,
        "CONSOLE_CASEWORK_URL": unreachable,
        "CONSOLE_MEETINGS_URL": unreachable,
    }
    log = tmp_path / "console.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "services.console.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--no-server-header"],
            cwd=system.ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )  # fmt: skip
    try:

        async def ready() -> bool:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, bool, 60, "the console ready")
        reports = serving(log)
        assert len(reports) == 1, reports
        assert reports[0]["event_loop"] == UVLOOP, reports[0]
        assert reports[0]["http_parser"] == HTTPTOOLS, reports[0]
        assert reports[0]["service"] == "console"
    finally:
        code = stop_process(process)
    assert code == -signal.SIGTERM  # caught, shut down, re-raised by uvicorn
    assert "Application shutdown complete." in {record.get("event") for record in records(log)}
