"""kill -9 the Kafka broker in the middle of a steady stream of police contacts, start it again on
the same data, and prove every acknowledged contact got exactly one case, one alert, its tasks and
one agenda item, on SQLite and on PostgreSQL.

Like Kafka's own system tests: the broker is a real process killed without warning between 20%
and 80% of the stream; the generator keeps sending throughout (HTTP POSTs are acknowledged from
intake's database and outbox even while the broker is down; produces to the ingress topic fail
and are not counted)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from deploy.kafka_broker import start_and_wait, wait_until_ready
from shared.kafka import ensure_topics
from tests.fault.conftest import Sinks, fault_scale, generator, report, settled
from tests.support.ground_truth import summary
from tests.support.live import LiveSystem

pytestmark = pytest.mark.fault

DOWN_SECONDS = 8.0


async def test_broker_killed_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, sinks: Sinks, service_databases: dict[str, str], database_kind: str
) -> None:
    count, rate = fault_scale()
    broker = await start_and_wait(tmp_path / "kafka")
    try:
        await ensure_topics(broker.bootstrap_servers, "")
        async with LiveSystem(
            broker.bootstrap_servers, "", service_databases, tmp_path / "live",
            sinks.gateway, sinks.smtp.port,
        ) as live:  # fmt: skip
            kill_at = int(count * random.Random(count).uniform(0.2, 0.8))
            killed = asyncio.Event()

            def on_sent(sent: int) -> None:
                if sent == kill_at and not killed.is_set():
                    broker.kill()
                    killed.set()

            gen = generator(live["intake"].url, broker.bootstrap_servers, "", "broker-kill")
            stream = asyncio.create_task(gen.run(count, rate, on_sent=on_sent))
            await asyncio.wait_for(killed.wait(), timeout=count / rate + 30)
            await asyncio.sleep(DOWN_SECONDS)
            broker.restart()
            restarted = time.monotonic()
            await wait_until_ready(broker.bootstrap_servers)
            broker_back = time.monotonic() - restarted
            contacts = await stream
            found, settle_seconds = await settled(service_databases, contacts, sinks, within=240)
            for name in live.services:
                assert live[name].running(), f"{name} died while the broker was down"
    finally:
        broker.stop()

    report(
        f"broker kill ({database_kind})",
        summary(contacts)
        | {"killed after": kill_at, "broker down s": DOWN_SECONDS,
           "broker ready after restart s": round(broker_back, 1),
           "settled after stream s": round(settle_seconds, 1)},
        found, contacts,
    )  # fmt: skip
    assert found.problems(contacts) == {}
    assert found.missing_messages(contacts) == 0
    assert found.message_duplicates() == 0  # no process of ours died mid-send
