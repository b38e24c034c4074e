"""The backup and restore runbook (docs/deployment/backup.md), once, on PostgreSQL.

Contact A is processed everywhere; casework's and the notifier's databases are dumped
(pg_dump, custom format); contact B is processed everywhere. Then both services are stopped,
their databases dropped and restored from the dumps (which know A, not B), their consumer groups
rewound to the backup's start time minus a margin, and the services started again. B's tasks and
alert come back exactly once; A's, restored from the dump and read again from Kafka, are not
doubled (the same task ids as before the backup: re-reading A changed nothing). The one effect
the runbook warns about shows too: B's alert pages again, A's does not.
"""

from __future__ import annotations

import json
import subprocess
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.casework.adapters.tables import processed_events, task_history, tasks
from services.notifier.adapters.tables import alerts
from shared.topics import AGENDA, ALERTS, REFERRALS, TASKS, TopicSpec
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.kafka import wait_consumed
from tests.support.notifier import wait_sends_settled
from tests.support.postgres import Cluster, client_tool
from tests.support.safeguarding_paths import rows
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

TASKS_PER_CONTACT = 6  # the example contact's needs (tests/integration/test_pipeline.py)
# Each restored service's consumer groups and the topics they read (services/*/router.py).
GROUPS = {
    "casework": {"casework": REFERRALS, "casework.alerts": ALERTS},
    "notifier": {"notifier": REFERRALS, "notifier.tasks": TASKS, "notifier.agenda": AGENDA},
}
# Rewind a little before the backup started: a record written just before it may not have been
# applied (consumer lag) when the snapshot was taken. Re-reading more is safe; less loses events.
MARGIN = timedelta(seconds=60)


def libpq_args(url: str) -> list[str]:
    parsed = sa.engine.make_url(url)
    return ["-h", str(parsed.host), "-p", str(parsed.port), "-U", str(parsed.username),
            "-d", str(parsed.database)]  # fmt: skip


async def rewind(bootstrap: str, prefix: str, groups: dict[str, TopicSpec], to: datetime) -> None:
    """What `kafka-consumer-groups --reset-offsets --to-datetime` does, for each group (which
    must have no live member): commit, per partition, the first offset at or after `to`, or the
    end if nothing is that new."""
    for group, spec in groups.items():
        topic = spec.full_name(prefix)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(spec.partitions)]
            consumer.assign(partitions)
            millis = int(to.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: millis for tp in partitions})
            ends = await consumer.end_offsets(partitions)
            offsets = {
                tp: found[tp].offset if found[tp] is not None else ends[tp] for tp in partitions
            }
            await consumer.commit(offsets)
        finally:
            await consumer.stop()


async def test_restore_a_dump_and_replay_from_kafka(
    kafka_bootstrap: str,
    topic_prefix: str,
    postgres_cluster: Cluster,
    tmp_path: Path,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    databases = DatabaseUrls("postgresql", tmp_path, postgres_cluster)
    urls = {name: await databases.new(name) for name in ("intake", "casework", "notifier")}
    builders = {"casework": system.casework_app, "notifier": system.notifier_app}
    contact_b = json.loads(example_contact) | {"police_reference": "NFK/2026/118735"}
    times: dict[str, float] = {}

    async def case_tasks(reference: str) -> list[dict[str, Any]]:
        return await rows(
            urls["casework"], sa.select(tasks.c.task_id, tasks.c.kind).where(tasks.c.case_reference == reference).order_by(tasks.c.task_id)
        )  # fmt: skip

    async def case_alerts(reference: str) -> list[dict[str, Any]]:
        return await rows(
            urls["notifier"], sa.select(alerts.c.alert_id).where(alerts.c.case_reference == reference).order_by(alerts.c.alert_id)
        )  # fmt: skip

    async def settled(references: list[str]) -> None:
        for reference in references:
            await eventually(
                partial(case_tasks, reference), lambda found: len(found) == TASKS_PER_CONTACT,
                within=30, what=f"tasks of {reference}",
            )  # fmt: skip
            await eventually(
                partial(case_alerts, reference), lambda found: len(found) == 1,
                within=30, what=f"alert of {reference}",
            )  # fmt: skip
        await wait_outbox_relayed(urls["casework"])
        await wait_outbox_relayed(urls["notifier"])
        await wait_sends_settled(urls["notifier"])

    async def start_restorable(stack: AsyncExitStack) -> None:
        await system.start(
            stack,
            {name: build(kafka_bootstrap, topic_prefix, urls[name]) for name, build in builders.items()},
        )  # fmt: skip

    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as outer:
            running = await system.start(
                outer, {"intake": system.intake_app(kafka_bootstrap, topic_prefix, urls["intake"])}
            )
            intake = running.client("intake")
            restorable = AsyncExitStack()
            await start_restorable(restorable)
            try:
                posted = await system.post_contact(intake, example_contact)
                assert posted.status_code == 202, posted.text
                reference_a = posted.json()["case_reference"]
                await settled([reference_a])
                tasks_a = await case_tasks(reference_a)
                alert_a = await case_alerts(reference_a)
                claims_before = await rows(urls["casework"], sa.select(processed_events))

                # The backup, with the services running (pg_dump reads one consistent snapshot).
                backup_started = datetime.now(UTC)
                started = time.monotonic()
                dumps = {}
                for name in builders:
                    dumps[name] = tmp_path / f"{name}.dump"
                    subprocess.run(
                        [str(client_tool("pg_dump")), "--format=custom",
                         f"--file={dumps[name]}", *libpq_args(urls[name])],
                        check=True, capture_output=True,
                    )  # fmt: skip
                times["pg_dump of two databases"] = time.monotonic() - started

                posted = await system.post_contact(intake, json.dumps(contact_b).encode())
                assert posted.status_code == 202, posted.text
                reference_b = posted.json()["case_reference"]
                await settled([reference_b])
                tasks_b_before = await case_tasks(reference_b)
                assert len(smtp.inbox.messages) == 2  # one page for each contact
            finally:
                started = time.monotonic()
                await restorable.aclose()  # 1. stop the services whose databases are restored
                times["stop casework and notifier"] = time.monotonic() - started

            # 2. drop and recreate each database, and restore it from its dump.
            started = time.monotonic()
            admin = await asyncpg.connect(postgres_cluster.admin_url)
            try:
                for name in builders:
                    database = sa.engine.make_url(urls[name]).database
                    await admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
                    await admin.execute(f'CREATE DATABASE "{database}"')
            finally:
                await admin.close()
            for name in builders:
                subprocess.run(
                    [str(client_tool("pg_restore")), "--exit-on-error", "--no-owner",
                     *libpq_args(urls[name]), str(dumps[name])],
                    check=True, capture_output=True,
                )  # fmt: skip
            times["drop, create and pg_restore two databases"] = time.monotonic() - started
            assert await case_tasks(reference_b) == [], "the dump was taken before B"
            assert await case_tasks(reference_a) == tasks_a

            # 3. rewind each restored service's consumer groups to before the backup.
            started = time.monotonic()
            for name in builders:
                await rewind(kafka_bootstrap, topic_prefix, GROUPS[name], backup_started - MARGIN)
            times["rewind five consumer groups"] = time.monotonic() - started

            # 4. start the services again: they read from the rewound offsets.
            started = time.monotonic()
            async with AsyncExitStack() as again:
                await start_restorable(again)
                await settled([reference_a, reference_b])
                for groups in GROUPS.values():
                    for group, spec in groups.items():
                        await wait_consumed(kafka_bootstrap, group, [spec.full_name(topic_prefix)])
                await settled([reference_a, reference_b])
                times["restart until B is back and every group caught up"] = (
                    time.monotonic() - started
                )

                assert await case_tasks(reference_a) == tasks_a, "A re-read, nothing changed"
                tasks_b = await case_tasks(reference_b)
                assert sorted(t["kind"] for t in tasks_b) == sorted(
                    t["kind"] for t in tasks_b_before
                )
                assert len(tasks_b) == TASKS_PER_CONTACT  # exactly once
                opened = await rows(
                    urls["casework"],
                    sa.select(task_history.c.task_id).where(task_history.c.change == "opened"),
                )
                assert sorted(r["task_id"] for r in opened) == sorted(
                    t["task_id"] for t in tasks_a + tasks_b
                ), "one 'opened' entry per task: no task was opened twice"
                claims_after = await rows(urls["casework"], sa.select(processed_events))
                # A's claim is the restored one (not made again); B's referral claimed anew.
                kept = {(c["event_id"], c["processed_at"]) for c in claims_before}
                assert kept < {(c["event_id"], c["processed_at"]) for c in claims_after}
                assert len(claims_after) == len(claims_before) + 1
                assert await case_alerts(reference_a) == alert_a
                assert len(await case_alerts(reference_b)) == 1
                # What the runbook warns of: an alert raised after the backup pages again.
                await smtp.inbox.wait_for(3)
                subjects = [str(m["subject"]) for m in smtp.inbox.messages]
                assert sum(reference_a in s for s in subjects) == 1, subjects
                assert sum(reference_b in s for s in subjects) == 2, subjects

    print(f"\nbackup started {backup_started:%H:%M:%S.%f}Z; groups rewound to "
          f"{backup_started - MARGIN:%H:%M:%S.%f}Z")  # fmt: skip
    for step, seconds in times.items():
        print(f"{step}: {seconds:.2f} s")
