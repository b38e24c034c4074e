"""Housekeeping on SQLite and PostgreSQL: relayed outbox rows older than their keep time and
idempotency claims older than the redelivery horizon go, in bounded batches; unpublished rows
never go, whatever their age; recent rows stay; a duplicate arriving inside the keep window is
still recognised after a pass; the relay's poll uses its index; and a keep time shorter than the
redelivery horizon is refused at start."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.adapters.tables import outbox, processed_events, tasks
from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from shared.clock import FixedClock
from shared.db import claim_event, create_engine, migrate
from shared.housekeeping import Housekeeping, Retention, redelivery_horizon
from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.events import referral
from tests.support.kafka import produce, wait_consumed
from tests.support.safeguarding_paths import rows
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
CASEWORK_MIGRATIONS = Path(__file__).resolve().parents[2] / "services/casework/migrations"
RETENTION = Retention(
    outbox_keep=timedelta(hours=24), processed_events_keep=timedelta(days=90), batch_rows=2
)


def outbox_row(published_at: datetime | None, created_at: datetime) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex, "topic": "t", "message_key": "k", "payload": "{}",
        "correlation_id": "c", "created_at": created_at, "published_at": published_at,
    }  # fmt: skip


async def migrated(database_urls: DatabaseUrls) -> tuple[str, AsyncEngine]:
    url = await database_urls.new("casework")
    engine = create_engine(url)
    await migrate(engine, CASEWORK_MIGRATIONS, version_table="alembic_version_casework")
    return url, engine


async def test_pass_prunes_old_rows_in_batches_and_keeps_the_rest(
    database_urls: DatabaseUrls,
) -> None:
    url, engine = await migrated(database_urls)
    deletes: list[str] = []

    def count_deletes(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(statement)

    try:
        old_published = [outbox_row(NOW - timedelta(hours=25 + i), NOW - timedelta(days=3)) for i in range(7)]  # fmt: skip
        recent_published = [outbox_row(NOW - timedelta(hours=23), NOW - timedelta(hours=23)) for _ in range(2)]  # fmt: skip
        # Owed to Kafka for a year (a broker outage, a crash): never deleted.
        never_published = [outbox_row(None, NOW - timedelta(days=400)) for _ in range(3)]
        old_claims = [f"old-{i}" for i in range(5)]
        recent_claims = ["recent-1", "recent-2"]
        async with engine.begin() as connection:
            await connection.execute(
                outbox.insert(), old_published + recent_published + never_published
            )
            await connection.execute(
                processed_events.insert(),
                [{"event_id": e, "processed_at": NOW - timedelta(days=91)} for e in old_claims]
                + [{"event_id": e, "processed_at": NOW - timedelta(days=89)} for e in recent_claims],
            )  # fmt: skip

        sa.event.listen(engine.sync_engine, "before_cursor_execute", count_deletes)
        job = Housekeeping(engine, outbox, processed_events, RETENTION, lambda: NOW, 3600)
        assert await job.run_once() == {"outbox": 7, "processed_events": 5}
        # 2 rows a transaction: 7 → 2+2+2+1, 5 → 2+2+1. A pass is many short transactions.
        assert len([d for d in deletes if "outbox" in d]) == 4
        assert len([d for d in deletes if "processed_events" in d]) == 3
        assert await job.run_once() == {"outbox": 0, "processed_events": 0}

        kept = await rows(url, sa.select(outbox.c.event_id, outbox.c.published_at))
        assert {r["event_id"] for r in kept} == {
            r["event_id"] for r in recent_published + never_published
        }
        claims = await rows(url, sa.select(processed_events.c.event_id))
        assert {r["event_id"] for r in claims} == set(recent_claims)

        # A duplicate inside the keep window is still one; a pruned claim would apply again.
        async with engine.begin() as connection:
            assert not await claim_event(connection, processed_events, "recent-1", NOW)
            assert await claim_event(connection, processed_events, "old-0", NOW)
    finally:
        await engine.dispose()


async def test_relay_poll_uses_the_unpublished_index(database_urls: DatabaseUrls) -> None:
    _, engine = await migrated(database_urls)
    # The relay's poll (shared/outbox.py OutboxRelay.flush), against a table of many relayed rows
    # and a few pending: the shape of a healthy service's outbox before housekeeping.
    poll = sa.select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id).limit(100)
    try:
        async with engine.begin() as connection:
            published = [outbox_row(NOW, NOW) for _ in range(20_000)]
            for start in range(0, len(published), 5000):
                await connection.execute(outbox.insert(), published[start : start + 5000])
            await connection.execute(outbox.insert(), [outbox_row(None, NOW) for _ in range(5)])
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(sa.text("ANALYZE outbox"))
                explain = "EXPLAIN "
            else:
                explain = "EXPLAIN QUERY PLAN "
            sql = str(
                poll.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
            )
            plan = "\n".join(str(row) for row in (await connection.execute(sa.text(explain + sql))).all())  # fmt: skip
        print(f"\n{connection.dialect.name} plan of the relay's poll:\n{plan}")
        assert "ix_outbox_unpublished" in plan, plan
    finally:
        await engine.dispose()


async def test_a_duplicate_inside_the_window_is_still_one_after_the_service_prunes(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    """Casework as deployed (its housekeeping loop, on the real broker): a claim 100 days old goes,
    one an hour old stays; then both events arrive again."""
    clock = FixedClock(NOW)
    url = await database_urls.new("casework")
    settings = CaseworkSettings(
        **system.common(kafka_bootstrap, topic_prefix, url),
        **system.TEST_SETTINGS_CASEWORK,
        housekeeping_interval_seconds=0.3,
    )
    topic = f"{topic_prefix}{REFERRALS.name}"
    first = referral("MS-2027-HK000001", NOW)
    second = referral("MS-2027-HK000002", NOW + timedelta(days=100))
    later = NOW + timedelta(days=100)

    async def claims() -> dict[str, datetime]:
        found = await rows(url, sa.select(processed_events))
        return {r["event_id"]: r["processed_at"] for r in found}

    async def send(event: Any) -> None:
        await produce(kafka_bootstrap, topic, event.model_dump_json().encode(), event.case_reference.encode())  # fmt: skip

    async def task_count() -> int:
        return len(await rows(url, sa.select(tasks.c.task_id)))

    async with AsyncExitStack() as stack:
        running = await system.start(stack, {"casework": create_casework(settings, clock)})
        await send(first)
        await eventually(claims, lambda c: str(first.event_id) in c, what="first referral claimed")
        await wait_outbox_relayed(url)
        first_tasks = await task_count()
        assert first_tasks > 0

        clock.advance(timedelta(days=100))
        await send(second)
        await eventually(
            claims,
            lambda c: set(c) == {str(second.event_id)},
            what="second claimed and the 100-day-old claim pruned",
        )
        await wait_outbox_relayed(url)
        # The jump of 100 days makes the first referral's tasks overdue, so the chase loop may
        # write new outbox rows at any moment: one not yet relayed (published_at NULL) means
        # "not yet", never a comparison with None.
        published = await eventually(
            lambda: rows(url, sa.select(outbox.c.published_at)),
            lambda found: all(
                r["published_at"] is not None and r["published_at"] >= later - timedelta(hours=24)
                for r in found
            ),
            what="outbox rows relayed 100 days ago pruned",
        )
        assert published, "the second referral's relayed events (published now) are kept"
        both_tasks = await task_count()
        scraped = (await running.client("casework").get("/metrics")).text
        assert 'safeguarding_housekeeping_pruned_total{table="processed_events"} 1.0' in scraped
        assert 'safeguarding_housekeeping_pruned_total{table="outbox"}' in scraped
        assert both_tasks > first_tasks

        clock.advance(timedelta(hours=1))
        await send(second)
        await send(first)
        await wait_consumed(kafka_bootstrap, "casework", [topic])
        after = await claims()
        # Recognised as a duplicate: its claim, made 100 days in, was kept and not made again.
        assert after[str(second.event_id)] == later
        # The contrast: the first's claim had gone, so the consumer claimed it again now.
        assert after[str(first.event_id)] == later + timedelta(hours=1)
        assert await task_count() == both_tasks  # tasks' own natural key: nothing doubled


def test_a_keep_time_inside_the_redelivery_horizon_is_refused() -> None:
    horizon_days = redelivery_horizon().days
    assert horizon_days == 60  # 2 × the 30-day retention of referrals, alerts, tasks and agenda
    base = {**system.common("127.0.0.1:9092", "", "sqlite+aiosqlite:///x.db"), **system.TEST_SETTINGS_CASEWORK}  # fmt: skip
    with pytest.raises(ValidationError, match="CASEWORK_PROCESSED_EVENTS_KEEP_DAYS must be more"):
        CaseworkSettings(**base, processed_events_keep_days=horizon_days)
    assert CaseworkSettings(**base, processed_events_keep_days=horizon_days + 1)
    assert CaseworkSettings(**base).processed_events_keep_days > horizon_days
