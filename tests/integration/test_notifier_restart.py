"""Timers are durable: kill -9 the notifier in the middle of an escalation, start it again, and
every remaining step fires exactly once (real processes, real broker, real HTTP gateway)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.kafka_broker import free_port
from shared.topics import ALERTS, REFERRALS
from tests.support import system
from tests.support.http_gateway import RunningGateway
from tests.support.kafka import produce, read_all
from tests.support.notifier import referral, write_policy, write_rota
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

STEP_SECONDS = 4.0


def start_notifier(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "faststream", "run", "services.notifier.main:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=system.ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def wait_ready(port: int, process: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert process.poll() is None, "notifier exited"
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "notifier not ready"
            await asyncio.sleep(0.2)


async def test_killed_mid_escalation_each_remaining_step_fires_exactly_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    async with RunningGateway() as gateway:
        with SmtpSink() as smtp:
            port = free_port()
            env = os.environ | {
                "SAFEGUARDING_ENV": "test",
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "KAFKA_TOPIC_PREFIX": topic_prefix,
                "NOTIFIER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/notifier.sqlite3",
                "NOTIFIER_ROTA_FILE": str(write_rota(tmp_path, gateway, smtp.port)),
                "NOTIFIER_ALERTING_FILE": str(write_policy(tmp_path, STEP_SECONDS)),
                "NOTIFIER_ACK_SECRET": str(system.TEST_SETTINGS_NOTIFIER["ack_secret"]),
                "NOTIFIER_DISPATCH_POLL_SECONDS": "0.2",
                "NOTIFIER_DELIVERY_LEASE_SECONDS": "5",
            }
            log = tmp_path / "notifier.log"
            first = start_notifier(env, port, log)
            try:
                await wait_ready(port, first)
                event = referral(7, operation=None)
                await produce(
                    kafka_bootstrap,
                    REFERRALS.full_name(topic_prefix),
                    event.model_dump_json().encode(),
                )
                await wait_until(
                    lambda: len(gateway.to("sms/advisor-a")) == 2,
                    within=20,
                    what="step 1 (re-notify)",
                )
                alert_id = next(
                    json.loads(r.value)["alert_id"]
                    for r in await read_all(kafka_bootstrap, [ALERTS.full_name(topic_prefix)])
                    if json.loads(r.value)["event_type"] == "alert.raised.v1"
                )

                async def step_one_recorded() -> bool:
                    async with httpx.AsyncClient() as client:
                        status = (
                            await client.get(f"http://127.0.0.1:{port}/v1/alerts/{alert_id}")
                        ).json()
                    return all(
                        n["status"] == "delivered"
                        for n in status["notifications"]
                        if n["step"] == 1 and n["channel"] == "sms"
                    )

                deadline = time.monotonic() + 10
                while not await step_one_recorded():
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.1)
            finally:
                first.send_signal(signal.SIGKILL)  # a crash, not a clean stop
                first.wait()
            killed_at = time.monotonic()

            second = start_notifier(env, port, log)
            try:
                await wait_ready(port, second)
                recovered = time.monotonic() - killed_at
                await wait_until(
                    lambda: len(gateway.to("sms/head")) >= 1, within=30, what="step 3 after restart"
                )
                await asyncio.sleep(STEP_SECONDS + 1)  # room for any duplicate to show itself
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=30)

    counts = {
        person: len(gateway.to(f"sms/{person}")) for person in ("advisor-a", "advisor-b", "head")
    }
    print(f"\nrestart: ready again {recovered:.1f} s after kill -9; SMS per person {counts}")
    assert counts == {"advisor-a": 2, "advisor-b": 1, "head": 1}
