"""Two notifier processes on one PostgreSQL database (#17 part 2): many alerts whose escalation
steps come due together, so both processes' clocks race for the same steps, and one process
killed -9 while the steps are firing. Every step fires exactly once, every notification is sent
(a notification twice only within the documented bound) and the outbox publishes each step's
AlertEscalatedV1 once (a copy of the same event only within the relay's at-least-once bound)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import create_async_engine

from services.notifier.adapters.tables import alerts, escalation_steps, notifications
from services.notifier.delivering import DELIVERY_CONCURRENCY
from shared.events import Urgency
from shared.kafka import PRODUCER_SAFETY
from shared.topics import ALERTS, REFERRALS
from tests.fault.conftest import Sinks
from tests.support.databases import count_rows, wait_outbox_relayed
from tests.support.kafka import read_all
from tests.support.live import ServiceProcess, service_env
from tests.support.notifier import referral, write_policy, write_rota
from tests.support.postgres import Cluster, create_database
from tests.support.signing import event_headers
from tests.support.waiting import eventually, wait_until

pytestmark = pytest.mark.fault

ALERT_COUNT = 30
STEP_SECONDS = 4.0  # steps at 0, 4, 8 and 12 s after each alert is raised
STEPS = 4  # tests/support/notifier.write_policy: on duty, on duty, backup, head of service
RELAY_BATCH = 100  # shared/outbox.py OutboxRelay's default batch
CHANNELS = ("sms",)  # a priority alert's, as set below: one SMS per step
ACK_CODE = re.compile(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}")


async def fetch(url: str, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(query)).all())
    finally:
        await engine.dispose()


async def count(url: str, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return await count_rows(url, sa.select(sa.func.count()).select_from(table).where(*where))


def provider_texts(sinks: Sinks) -> list[str]:
    """Every SMS the gateway stand-in and every email the SMTP sink received, as text."""
    texts = [item.message for item in sinks.gateway.received if item.path.startswith("/sms/")]
    for message in sinks.smtp.inbox.messages:
        body = message.get_body(preferencelist=("plain",))
        texts.append(str(body.get_content()) if body is not None else "")
    return texts


def logged(process: ServiceProcess, event: str) -> int:
    return process.log.read_text(errors="replace").count(f'"event": "{event}"')


def attempted(process: ServiceProcess) -> int:
    """Notifications this process sent."""
    return logged(process, "notification_attempted")


async def test_two_notifiers_fire_every_step_once_across_a_kill(
    kafka_bootstrap: str,
    topic_prefix: str,
    postgres_cluster: Cluster,
    tmp_path: Path,
    sinks: Sinks,
) -> None:
    url = await create_database(postgres_cluster.admin_url, f"notifier_two_{uuid.uuid4().hex[:8]}")
    folder = tmp_path / "notifiers"
    folder.mkdir()
    write_rota(folder, sinks.gateway, sinks.smtp.port)
    policy = write_policy(folder, STEP_SECONDS)
    # SMS only: one provider message per step, which keeps the test within its time budget.
    settings = json.loads(policy.read_text())
    policy.write_text(
        json.dumps(settings | {"channels": settings["channels"] | {"priority": ["sms"]}})
    )
    env = service_env("notifier", kafka_bootstrap, topic_prefix, url, folder, {})
    pair = [ServiceProcess("notifier", env, folder / f"notifier-{name}.log") for name in "ab"]
    started = time.monotonic()
    try:
        # Started together on an empty database: the migrations race too (shared/db.py migrate).
        for process in pair:
            process.spawn()
        await asyncio.gather(*(process.wait_ready() for process in pair))
        ready = time.monotonic() - started

        referrals = REFERRALS.full_name(topic_prefix)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **PRODUCER_SAFETY)
        await producer.start()
        try:
            for number in range(ALERT_COUNT):
                # Priority: paged at once (routine waits for working hours).
                event = referral(number, Urgency.PRIORITY)
                key, value = event.case_reference.encode(), event.model_dump_json().encode()
                await producer.send(
                    referrals, value, key=key, headers=event_headers(referrals, key, value)
                )
            await producer.flush()
        finally:
            await producer.stop()
        await eventually(
            lambda: count(url, alerts), lambda n: n == ALERT_COUNT, within=20, what="alerts raised"
        )

        # kill -9 one notifier once the first escalation step is half sent and both have sent:
        # both clocks are then firing steps and sending, with work in flight in the one killed.
        await wait_until(
            lambda: (
                sum(item.path.startswith("/sms/") for item in sinks.gateway.received)
                >= int(1.5 * ALERT_COUNT)
                and all(attempted(process) for process in pair)
            ),
            within=30,
            what="step 1 under way in both",
        )
        sent_before_kill = [attempted(process) for process in pair]
        escalated_before_kill = [logged(process, "alert_escalated") for process in pair]
        pair[0].kill()
        killed_at = time.monotonic() - started

        # The survivor fires the rest; a notification the killed one had claimed waits out its
        # lease (10 s, NOTIFIER_DELIVERY_LEASE_SECONDS in tests/support/live.py).
        await eventually(
            lambda: count(url, escalation_steps, escalation_steps.c.status == "pending"),
            lambda n: n == 0, within=40, what="every step fired",
        )  # fmt: skip
        await eventually(
            lambda: count(url, notifications, notifications.c.status == "pending"),
            lambda n: n == 0, within=40, what="every notification sent",
        )  # fmt: skip
        await wait_outbox_relayed(url, within=20)
        assert pair[1].running()
        settled = time.monotonic() - started
    finally:
        for process in pair:
            if process.running():
                process.terminate()

    steps = await fetch(url, sa.select(escalation_steps.c.alert_id, escalation_steps.c.status))
    sent = await fetch(
        url,
        sa.select(
            notifications.c.alert_id, notifications.c.step, notifications.c.channel,
            notifications.c.ack_code, notifications.c.status,
        ),
    )  # fmt: skip
    records = await read_all(kafka_bootstrap, [ALERTS.full_name(topic_prefix)])
    events = [json.loads(record.value) for record in records if record.value is not None]

    # Every step fired, and fired once: one SMS and one email per (alert, step), all delivered.
    assert len(steps) == ALERT_COUNT * STEPS
    assert Counter(row.status for row in steps) == {"fired": ALERT_COUNT * STEPS}
    per_step = Counter((row.alert_id, row.step) for row in sent)
    assert len(per_step) == ALERT_COUNT * STEPS
    assert set(per_step.values()) == {len(CHANNELS)}, per_step
    assert Counter(row.channel for row in sent) == dict.fromkeys(CHANNELS, ALERT_COUNT * STEPS)
    assert Counter(row.status for row in sent) == {"delivered": len(CHANNELS) * ALERT_COUNT * STEPS}

    # What the provider received, by acknowledgement code (one per notification): each
    # notification at least once, nothing else, and a second copy only of what the killed
    # process had in flight when it died (sent, not yet recorded): at most DELIVERY_CONCURRENCY.
    received = Counter(
        match.group() for text in provider_texts(sinks) if (match := ACK_CODE.search(text))
    )
    codes = {row.ack_code for row in sent}
    assert set(received) == codes
    provider_duplicates = sum(copies - 1 for copies in received.values())
    assert provider_duplicates <= DELIVERY_CONCURRENCY

    # On the alerts topic: one AlertEscalatedV1 per (alert, step 1-3), and one AlertRaisedV1 per
    # alert, by event id. A second copy of the same event (the same event id) is the relay's
    # at-least-once: only the batch the killed process was relaying, at most RELAY_BATCH rows.
    escalated = {
        (event["alert_id"], event["step"], event["event_id"])
        for event in events
        if event["event_type"] == "alert.escalated.v1"
    }
    fired = Counter((alert_id, step) for alert_id, step, _ in escalated)
    assert len(fired) == ALERT_COUNT * (STEPS - 1)
    assert set(fired.values()) == {1}, fired
    raised = {event["event_id"] for event in events if event["event_type"] == "alert.raised.v1"}
    assert len(raised) == ALERT_COUNT
    ids = Counter(event["event_id"] for event in events)
    republished = sum(copies - 1 for copies in ids.values())
    assert republished <= RELAY_BATCH

    # Both processes did the work: each sent notifications before the kill.
    assert all(sent_before_kill), sent_before_kill
    print(
        f"\ntwo notifiers on one PostgreSQL: alerts {ALERT_COUNT}, steps fired "
        f"{ALERT_COUNT * STEPS} (each once), AlertEscalatedV1 {len(escalated)} distinct, "
        f"before the kill a/b sent {sent_before_kill[0]}/{sent_before_kill[1]} notifications "
        f"and fired {escalated_before_kill[0]}/{escalated_before_kill[1]} steps after the first, "
        f"provider duplicates {provider_duplicates} (bound {DELIVERY_CONCURRENCY}), "
        f"events republished {republished} (bound {RELAY_BATCH}), ready {ready:.1f} s, "
        f"killed at {killed_at:.1f} s, all settled at {settled:.1f} s"
    )
