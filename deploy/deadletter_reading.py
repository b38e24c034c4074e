"""Reading a topic, or one record at its offset, with a plain consumer that joins no group.

The operator tool must not move any service's committed offsets, so it assigns partitions itself
and commits nothing. Every read stops at the end offsets seen when it began, within a time limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
READ_LIMIT_SECONDS = 120.0


class TopicUnavailable(RuntimeError):
    """The topic does not exist, or this principal may not describe it (ACLs look the same)."""


async def partitions_of(
    bootstrap_servers: str, topic: str, security: Mapping[str, Any]
) -> list[int]:
    """The topic's partition ids (a consumer outside any group learns them from no public call)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **security)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [p["partition"] for t in described if not t.get("error_code") for p in t["partitions"]]
    if not found:
        raise TopicUnavailable(f"{topic}: no such topic, or not allowed to describe it")
    return sorted(found)


async def read_from(
    consumer: AIOKafkaConsumer,
    topic: str,
    partitions: Mapping[int, int],
    since_ms: int | None = None,
) -> list[Record]:
    """The records now in `partitions` (partition → first offset) of `topic`, or from the first
    at or after `since_ms` in each."""
    tps = [TopicPartition(topic, partition) for partition in sorted(partitions)]
    if not tps:
        return []
    consumer.assign(tps)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    if since_ms is not None:
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            consumer.seek(tp, starts[tp].offset if starts.get(tp) else ends[tp])
    else:
        beginnings: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(partitions[tp.partition], beginnings[tp]))
    records: list[Record] = []
    async with asyncio.timeout(READ_LIMIT_SECONDS):
        while pending := [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, found_records in batch.items():
                records.extend(r for r in found_records if r.offset < ends[tp])
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def read_one(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> Record | None:
    """The record at `offset`, or None if retention has removed it or it was never written."""
    consumer.assign([tp])
    beginning = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    if not beginning <= offset < end:
        return None
    consumer.seek(tp, offset)
    async with asyncio.timeout(READ_LIMIT_SECONDS):
        while await consumer.position(tp) <= offset:
            for record in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                if record.offset >= offset:
                    return record if record.offset == offset else None
    return None
