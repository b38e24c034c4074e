"""Reading topics in tests with a plain aiokafka consumer (no FastStream in between)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

from tests.support.signing import signature_headers
from tests.support.waiting import eventually


async def read_all(
    bootstrap: str, topics: list[str], quiet_for: float = 1.0, within: float = 15.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now in `topics`, from the beginning: at least every record up to the end
    offsets taken once the reader has its partitions, then whatever more arrives until none has
    for `quiet_for` seconds. Reading to those offsets first matters on a busy machine: the first
    fetch after joining (an offset lookup, then the fetch) can take longer than `quiet_for`, and
    a reader that only waited for quiet returned an empty list (a CI run's poison test read no
    dead letter at all, moments after it had read all 198)."""
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
        for _ in range(int(within / 0.05)):
            if consumer.assignment():
                break
            await asyncio.sleep(0.05)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        behind = {tp for tp, end in ends.items() if end > 0}
        last_new = time.monotonic()
        while time.monotonic() < deadline and (behind or time.monotonic() - last_new < quiet_for):
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
                last_new = time.monotonic()
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)
                    last_new = time.monotonic()  # the quiet period starts at the snapshot's end
        assert not behind, (
            f"read_all: {sorted(map(str, behind))} not read to their end in {within} s"
        )
    finally:
        await consumer.stop()
    return records


async def wait_for_records(
    bootstrap: str, topic: str, count: int, within: float = 15.0
) -> list[ConsumerRecord[bytes, bytes]]:
    deadline = time.monotonic() + within
    while True:
        left = max(5.0, deadline - time.monotonic())
        records = await read_all(bootstrap, [topic], quiet_for=0.5, within=left)
        if len(records) >= count:
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} record(s) on {topic}, found {len(records)}")
        await asyncio.sleep(0.2)


async def produce(
    bootstrap: str, topic: str, value: bytes, key: bytes | None = None, signed: bool = True
) -> None:
    await produce_many(bootstrap, topic, [(value, key)], signed=signed)


async def produce_many(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes, bytes | None]],
    signed: bool = True,
) -> None:
    """Publish (value, key) records with one producer, in order, all acknowledged on return: a
    burst as fast as the broker takes it, not one connection per record. Each record is signed as
    its topic's producer signs it (tests/support/signing.py), unless `signed` is False."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic,
                value,
                key=key,
                headers=signature_headers(topic, key, value) if signed else None,
            )
            for value, key in records
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def wait_consumed(
    bootstrap: str, group_ids: str | Sequence[str], topics: Sequence[str], within: float = 20.0
) -> None:
    """Wait until each consumer group has committed every record now in `topics`.

    The services commit a record only after its handler returned (AckPolicy.NACK_ON_ERROR, one
    record at a time), so once this returns every one of those records has been handled and its
    effects are in the service's database: the positive signal to check, before asserting that a
    record changed nothing, that it was read at all."""
    groups = (group_ids,) if isinstance(group_ids, str) else tuple(group_ids)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    try:
        await consumer.start()
        try:
            described = await admin.describe_topics(list(topics))
            partitions = [
                TopicPartition(topic["topic"], partition["partition"])
                for topic in described
                for partition in topic["partitions"]
            ]
            assert {tp.topic for tp in partitions} == set(topics), described
            ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()

        async def behind() -> dict[str, dict[TopicPartition, int]]:
            lag: dict[str, dict[TopicPartition, int]] = {}
            for group in groups:
                committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
                for tp, end in ends.items():
                    done = committed[tp].offset if tp in committed else -1
                    if end > 0 and done < end:
                        lag.setdefault(group, {})[tp] = end - max(done, 0)
            return lag

        await eventually(
            behind, lambda lag: not lag, within=within, what=f"{groups} consumed {list(topics)}"
        )
    finally:
        await admin.close()
