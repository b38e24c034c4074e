"""A raid met by two notifier instances on one PostgreSQL database: the referrals of one
operation, consumed by both at once (Kafka spreads their case keys over both), each end up in
exactly one place, their own alert or the operation's one collecting batch, and the batch goes
out as one grouped follow-up naming every case in it.

Two instances here are two sets of dependencies in one process, each with its own engine, run
together (as tests/integration/test_two_instances_timers.py explains, PostgreSQL sees two
sessions interleaving at every statement, which is the race that matters). Before the join took
a lock per operation, two instances that read the same batch each wrote back their own list of
cases, so one instance's case vanished from the batch and was never paged, and two instances
that found no batch each opened one."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.ack_limits import AckLimiter, AckLimits
from services.notifier.adapters.tables import alerts, burst_batches
from services.notifier.deps import NotifierDeps
from services.notifier.main import MIGRATIONS
from services.notifier.policy import load_policy
from services.notifier.raising import flush_bursts, raise_for_referral
from services.notifier.rota_book import RotaBook
from shared.clock import FixedClock
from shared.db import create_engine, migrate
from shared.rota import load_rota
from tests.support import system
from tests.support.events import referral
from tests.support.postgres import Cluster, create_database

pytestmark = pytest.mark.integration

RAID = 40  # referrals after the first, split over the two instances
GROUP = "NFK:operation-aurora"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class NoSends:
    async def send(self, url: str, title: str, body: str, attachments: Any = ()) -> bool:
        raise AssertionError("raising and flushing send nothing themselves")


def deps_on(engine: AsyncEngine, clock: FixedClock) -> NotifierDeps:
    rota = load_rota(system.ROOT / "deploy" / "config" / "rota.yaml")
    return NotifierDeps(
        engine=engine, rota_book=RotaBook(rota, engine),
        policy=load_policy(system.ROOT / "deploy" / "config" / "alerting.yaml"),
        sender=NoSends(), clock=clock, alerts_topic="t.alerts", public_url="http://x",
        ack_secret=base64.b64decode(base64.b64encode(b"k" * 32)), lease=timedelta(seconds=60),
        wake_scheduler=lambda: None, wake_outbox=lambda: None, wake_dispatch=lambda: None,
        wake_scheduler_in=lambda seconds: None, ack_code_ttl=timedelta(hours=24),
        ack_limiter=AckLimiter(engine, b"k" * 32, AckLimits(timedelta(minutes=10), 5, 5, 50)),
    )  # fmt: skip


@pytest.fixture
async def two_engines(postgres_cluster: Cluster) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    url = await create_database(postgres_cluster.admin_url, "notifier_two_bursts")
    first, second = create_engine(url), create_engine(url)
    await migrate(first, MIGRATIONS, version_table="alembic_version_notifier")
    yield first, second
    await first.dispose()
    await second.dispose()


async def where_each_case_is(engine: AsyncEngine) -> tuple[Counter[str], list[Any]]:
    async with engine.connect() as connection:
        alerted = (await connection.execute(sa.select(alerts.c.case_reference))).scalars().all()
        batches = (await connection.execute(sa.select(burst_batches))).all()
    places: Counter[str] = Counter(reference for reference in alerted if reference)
    for batch in batches:
        places.update(batch.case_references.split(","))
    return places, list(batches)


async def test_a_raid_over_two_notifiers_loses_no_case_and_opens_one_batch(
    two_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    clock = FixedClock(NOW)
    one, two = (deps_on(engine, clock) for engine in two_engines)
    cases = [f"MS-2026-R{n:04d}" for n in range(RAID + 1)]
    events = [referral(case, NOW, operation_group=GROUP, operation="Aurora") for case in cases]

    assert await raise_for_referral(events[0], one) == "raised"  # the raid's first page
    outcomes = await asyncio.gather(
        *(raise_for_referral(event, one if n % 2 else two) for n, event in enumerate(events[1:]))
    )
    assert Counter(outcomes) == {"grouped": RAID}

    places, batches = await where_each_case_is(two_engines[0])
    assert places == dict.fromkeys(cases, 1), "a case missing or in two places"
    assert [batch.status for batch in batches] == ["collecting"]
    assert sorted(batches[0].case_references.split(",")) == cases[1:]

    clock.advance(timedelta(minutes=one.policy.bursts.batch_minutes, seconds=1))
    sent = await asyncio.gather(flush_bursts(one), flush_bursts(two))
    assert sorted(sent) == [0, 1]  # one grouped follow-up, by whichever instance came first
    async with two_engines[1].connect() as connection:
        grouped = (
            await connection.execute(sa.select(alerts).where(alerts.c.kind == "grouped"))
        ).all()
    assert len(grouped) == 1
