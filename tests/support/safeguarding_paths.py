"""Helpers for the safeguarding-path tests: rows read straight from a service's database, and a
positive signal that a consumer group has processed every record of a topic (its committed
offsets reached the topic's end), so a test can then check that nothing more happened without
sleeping and hoping."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.db import create_engine
from shared.topics import TopicSpec


async def rows(url: str, query: sa.Executable) -> list[dict[str, Any]]:
    """Every row `query` returns from the database at `url`, as plain dicts."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return [dict(row._mapping) for row in (await connection.execute(query)).all()]
    finally:
        await engine.dispose()


async def group_caught_up(
    bootstrap: str, prefix: str, spec: TopicSpec, group: str, within: float = 20.0
) -> None:
    """Wait until `group` has committed every record now in the topic (its offsets reached the
    end offsets read at the start of the wait). Services commit only after the record's effect
    has committed (AckPolicy.NACK_ON_ERROR), so after this the effect of every record is in the
    database."""
    partitions = [TopicPartition(spec.full_name(prefix), p) for p in range(spec.partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + within
        while True:
            committed = await admin.list_consumer_group_offsets(group)
            behind = {
                tp: end - (committed[tp].offset if tp in committed else 0)
                for tp, end in ends.items()
                if end > (committed[tp].offset if tp in committed else 0)
            }
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"group {group} still behind on {spec.name}: {behind}")
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await admin.close()
