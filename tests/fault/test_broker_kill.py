"""kill -9 the Kafka broker in the middle of a steady stream of police contacts, start it again on
the same data, and prove every acknowledged contact got exactly one case, one alert, its tasks and
one agenda item, on SQLite and on PostgreSQL.

Like Kafka's own system tests: the broker is a real process killed without warning between 20%
and 80% of the stream; the generator keeps sending throughout. What a caller sees: every HTTP POST
is answered 202 even while the broker is down (intake writes the case and the referral to its
database and outbox; the relay publishes once the broker is back), and the test requires it of
every POST; a produce to the ingress topic may fail while the broker is down or reconnecting
(not counted), and every produce outside that window must be acknowledged."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from deploy.kafka_broker import start_and_wait, wait_until_ready
from shared.kafka import ensure_topics
from tests.fault.conftest import Sinks, fault_scale, generator, report, settled
from tests.support.ground_truth import (
    Fault,
    assert_no_message_duplicates,
    summary,
    unacknowledged_owed,
)
from tests.support.live import LiveSystem

pytestmark = pytest.mark.fault

DOWN_SECONDS = 8.0
# After the broker answers again, the generator's producer may need this long to find it (its
# metadata refresh and reconnect backoff); produces sent meanwhile may time out. Generous on
# purpose: it only decides which produces the test may excuse.
PRODUCER_RECONNECT_SECONDS = 10.0


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
            killed_at = 0.0

            def on_sent(sent: int) -> None:
                nonlocal killed_at
                if sent == kill_at and not killed.is_set():
                    broker.kill()
                    killed_at = time.monotonic()
                    killed.set()

            gen = generator(live["intake"].url, broker.bootstrap_servers, "", "broker-kill")
            stream = asyncio.create_task(gen.run(count, rate, on_sent=on_sent))
            await asyncio.wait_for(killed.wait(), timeout=count / rate + 30)
            await asyncio.sleep(DOWN_SECONDS)  # the fault itself: the broker stays down this long
            broker.restart()
            restarted = time.monotonic()
            await wait_until_ready(broker.bootstrap_servers)
            ready_at = time.monotonic()
            broker_back = ready_at - restarted
            contacts = await stream
            found, settle_seconds = await settled(service_databases, contacts, sinks, within=240)
            for name in live.services:
                assert live[name].running(), f"{name} died while the broker was down"
    finally:
        broker.stop()

    # Only produces that overlapped the broker's absence may fail; POSTs never may.
    faults = [Fault("kafka", killed_at, ready_at + PRODUCER_RECONNECT_SECONDS)]
    posts_while_down = [
        c for c in contacts if c.via == "http" and killed_at <= c.planned_at <= ready_at
    ]
    report(
        f"broker kill ({database_kind})",
        summary(contacts, faults)
        | {"POSTs while broker down": len(posts_while_down),
           "of them acknowledged": sum(c.acknowledged for c in posts_while_down),
           "produces failed": sum(c.via == "kafka" and not c.acknowledged for c in contacts),
           "last failed produce planned s after broker ready": round(max(
               (c.planned_at - ready_at for c in contacts
                if c.via == "kafka" and not c.acknowledged), default=0.0), 1),
           "killed after": kill_at, "broker down s": DOWN_SECONDS,
           "broker ready after restart s": round(broker_back, 1),
           "settled after stream s": round(settle_seconds, 1)},
        found, contacts,
    )  # fmt: skip
    assert posts_while_down, "no POST was sent while the broker was down: the test proves nothing"
    assert not (refused := [f"{c.police_reference}: {c.status}" for c in posts_while_down
                            if not c.acknowledged]), (
        f"{len(refused)} POSTs sent while the broker was down were not acknowledged: {refused[:5]}"
    )  # fmt: skip
    assert not (unowed := unacknowledged_owed(contacts, faults)), (
        f"{len(unowed)} contacts sent while their door was healthy were not acknowledged: "
        f"{unowed[:5]}"
    )
    assert found.problems(contacts) == {}
    assert found.missing_messages(contacts) == 0
    await assert_no_message_duplicates(service_databases, found)  # none of ours died mid-send
