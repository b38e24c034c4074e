"""Instances of a service (#17 part 2): on SQLite a second copy on the same database file refuses
to start, naming the lock file, and starts once the first has stopped; on PostgreSQL two outbox
relays on one database publish each row once, each key's rows in order, and two notifiers'
dead-man's switches share one watch: heartbeats that reach only one of them keep both quiet, and a
silence is paged once, its end once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from faststream import TestApp

from services.notifier.heartbeat import HeartbeatMetrics, HeartbeatMonitor, HeartbeatTargets
from services.notifier.heartbeat_store import HeartbeatStore
from services.notifier.main import MIGRATIONS
from services.notifier.policy import load_policy
from shared.clock import FixedClock
from shared.db import create_engine, migrate
from shared.instance_lock import SecondInstance
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay
from tests.integration.test_outbox_relay import NOW, OUTBOX, Producer, outbox
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.postgres import Cluster
from tests.unit.builders import ROOT
from tests.unit.test_dead_mans_switch import STALE, START, RecordingSender, beat

pytestmark = pytest.mark.integration


async def test_a_second_instance_on_one_sqlite_file_refuses_to_start(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    database = tmp_path / "intake.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    lock_file = f"{database}.instance.lock"
    async with AsyncExitStack() as first:
        await system.start(first, {"intake": system.intake_app(kafka_bootstrap, topic_prefix, url)})
        second = system.intake_app(kafka_bootstrap, topic_prefix, url)
        with pytest.raises(SecondInstance, match=f"lock held on {lock_file}"):
            async with TestApp(second):
                pass
    # The first stopped: a restart on the same file starts.
    async with TestApp(system.intake_app(kafka_bootstrap, topic_prefix, url)):
        pass


async def test_two_relays_on_one_postgresql_database_publish_each_row_once_in_order(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    keys = [f"k{number % 7}" for number in range(300)]
    databases = DatabaseUrls("postgresql", tmp_path, postgres_cluster)
    async with outbox(databases, keys) as engine:
        url = engine.url.render_as_string(hide_password=False)
        other = create_engine(url)  # the second instance: its own engine and connections
        # One producer for both: it asserts that a key is never in flight twice, across both.
        producer = Producer()
        relays = [
            OutboxRelay(e, OUTBOX, producer.publish, lambda: NOW, batch=40) for e in (engine, other)
        ]
        try:
            # Both flush at once, over and over, as two woken relays would.
            await asyncio.gather(*(relay.flush() for relay in relays for _ in range(3)))
        finally:
            await other.dispose()
        async with engine.connect() as connection:
            unpublished = await connection.scalar(
                sa.select(sa.func.count()).where(OUTBOX.c.published_at.is_(None))
            )
    assert unpublished == 0
    assert sorted(producer.handed, key=int) == [str(n) for n in range(len(keys))]  # each once
    for key in set(keys):
        rows = [p for p in producer.handed if keys[int(p)] == key]
        assert rows == sorted(rows, key=int), key


async def test_two_notifiers_share_the_dead_mans_switch(
    postgres_cluster: Cluster, tmp_path: Path
) -> None:
    databases = DatabaseUrls("postgresql", tmp_path, postgres_cluster)
    engine = create_engine(await databases.new("notifier"))
    try:
        await migrate(engine, MIGRATIONS, version_table="alembic_version_notifier")
        clock, sender = FixedClock(START), RecordingSender()
        policy = load_policy(ROOT / "deploy" / "config" / "alerting.yaml")
        targets = HeartbeatTargets(("gw://heartbeat",), ("ops://1",), None, STALE, 1.0)
        # Two instances, each its own store (engine) on the one database, as two processes.
        engines = [engine, create_engine(engine.url.render_as_string(hide_password=False))]
        receiver, other = (
            HeartbeatMonitor(
                sender, clock, policy, targets,
                HeartbeatMetrics.register(ServiceMetrics("notifier")), HeartbeatStore(e),
            )
            for e in engines
        )  # fmt: skip
        try:
            # Heartbeats reach one instance only (one key, one partition): the other stays quiet.
            for minute in range(1, 8):
                clock.advance(timedelta(minutes=1))
                await receiver.attempt(beat(clock.now(), minute))
                await asyncio.gather(receiver.check(), other.check())
            assert sender.to("ops://1") == []
            assert other.status()[0]
            # A silence: paged once between the two, however often both check (one after the
            # other: two deciding within the same send both page, heartbeat.py says why).
            clock.advance(STALE + timedelta(seconds=1))
            for _ in range(3):
                await other.check()
                await receiver.check()
            assert [title for _, title, _ in sender.to("ops://1")] == [
                "Safeguarding pipeline quiet"
            ]
            assert not other.status()[0]
            # Heartbeats again (to the receiver): "flowing again" once, and both healthy.
            clock.advance(timedelta(seconds=30))
            await receiver.attempt(beat(clock.now(), 99))
            for _ in range(3):
                await receiver.check()
                await other.check()
            assert [title for _, title, _ in sender.to("ops://1")] == [
                "Safeguarding pipeline quiet", "Safeguarding pipeline flowing again",
            ]  # fmt: skip
            assert other.status()[0]
        finally:
            await engines[1].dispose()
    finally:
        await engine.dispose()
