"""Reading topics in tests with a plain aiokafka consumer (no FastStream in between)."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord


async def read_all(
    bootstrap: str, topics: list[str], quiet_for: float = 1.0, within: float = 15.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now in `topics`, from the beginning."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + within
        last_new = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_new < quiet_for:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
                last_new = time.monotonic()
    finally:
        await consumer.stop()
    return records


async def wait_for_records(
    bootstrap: str, topic: str, count: int, within: float = 15.0
) -> list[ConsumerRecord[bytes, bytes]]:
    deadline = time.monotonic() + within
    while True:
        records = await read_all(bootstrap, [topic], quiet_for=0.5, within=min(5.0, within))
        if len(records) >= count:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} record(s) on {topic}, found {len(records)}")
        await asyncio.sleep(0.2)


async def produce(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
