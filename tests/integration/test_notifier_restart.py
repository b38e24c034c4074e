"""Timers are durable: kill -9 the notifier in the middle of an escalation, start it again, and
every remaining step fires exactly once (real processes, real broker, real HTTP gateway)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from shared.topics import ALERTS, REFERRALS
from tests.support.databases import DatabaseUrls
from tests.support.http_gateway import RunningGateway
from tests.support.kafka import produce, read_all
from tests.support.live import LIVE_STAFF_TOKENS, LiveSystem
from tests.support.notifier import referral, wait_escalations_finished
from tests.support.smtp import SmtpSink
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

STEP_SECONDS = 4.0
HEAD = {"Authorization": f"Bearer {LIVE_STAFF_TOKENS['head']}"}  # alert status needs staff


async def test_killed_mid_escalation_each_remaining_step_fires_exactly_once(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, database_urls: DatabaseUrls
) -> None:
    database = await database_urls.new("notifier")
    async with RunningGateway() as gateway:
        with SmtpSink() as smtp:
            live = LiveSystem(
                kafka_bootstrap, topic_prefix,
                {"notifier": database},
                tmp_path, gateway, smtp.port, step_seconds=STEP_SECONDS, names=("notifier",),
                extra_env={"notifier": {"NOTIFIER_DELIVERY_LEASE_SECONDS": "5"}},
            )  # fmt: skip
            async with live:
                notifier = live["notifier"]
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
                    async with httpx.AsyncClient(headers=HEAD) as client:
                        status = (await client.get(f"{notifier.url}/v1/alerts/{alert_id}")).json()
                    return all(
                        n["status"] == "delivered"
                        for n in status["notifications"]
                        if n["step"] == 1 and n["channel"] == "sms"
                    )

                deadline = time.monotonic() + 10
                while not await step_one_recorded():
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.1)
                notifier.kill()  # a crash, not a clean stop
                killed_at = time.monotonic()
                await live.restart("notifier")
                recovered = time.monotonic() - killed_at
                await wait_until(
                    lambda: len(gateway.to("sms/head")) >= 1, within=30, what="step 3 after restart"
                )
                # Every step has fired and every message sent is recorded: nothing more can come.
                await wait_escalations_finished(database)

    counts = {
        person: len(gateway.to(f"sms/{person}")) for person in ("advisor-a", "advisor-b", "head")
    }
    print(f"\nrestart: ready again {recovered:.1f} s after kill -9; SMS per person {counts}")
    assert counts == {"advisor-a": 2, "advisor-b": 1, "head": 1}
