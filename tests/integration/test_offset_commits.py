"""Offset commits gathered over a window, on the real broker through FastStream's own acknowledgement:
fewer commit requests than records, the group's committed offset reaching exactly the end once the
window passes, a record whose handler failed read again (not committed past), and a clean stop
committing what was handled before the consumer closes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy

from shared.kafka import create_broker
from shared.offset_commits import OffsetCommits, offset_commit_middleware
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

RECORDS = 40


async def committed(bootstrap: str, group: str, partition: TopicPartition) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        offset: int | None = await reader.committed(partition)
        return offset
    finally:
        await reader.stop()


async def test_a_windowed_commit_reaches_the_end_and_a_failed_record_is_read_again(
    kafka_bootstrap: str,
) -> None:
    topic, group = f"offsets-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    partition = TopicPartition(topic, 0)

    commits = OffsetCommits(0.3)
    broker = create_broker(
        kafka_bootstrap, client_id="offsets-test", middlewares=[offset_commit_middleware(commits)]
    )
    seen: list[int] = []
    failed_once: set[int] = set()

    @broker.subscriber(
        topic, group_id=group, auto_offset_reset="earliest", ack_policy=AckPolicy.NACK_ON_ERROR
    )
    async def handle(number: int) -> None:
        seen.append(number)
        if number == 17 and number not in failed_once:
            failed_once.add(number)
            raise RuntimeError("fails the first time: nacked, so read again")

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for number in range(RECORDS):
            await producer.send_and_wait(topic, str(number).encode())
    finally:
        await producer.stop()

    await broker.start()
    try:
        await eventually(
            lambda: asyncio.sleep(0, len(set(seen))), lambda n: n == RECORDS, 30, "all"
        )
        assert seen.count(17) == 2, "the failed record was read again"
        assert sorted(set(seen)) == list(range(RECORDS))
        # Each record's own commit would be RECORDS requests; a window carries many.
        await eventually(
            lambda: committed(kafka_bootstrap, group, partition), lambda c: c == RECORDS, 10,
            "the group's committed offset at the end",
        )  # fmt: skip
        assert 1 <= commits.commits_sent < RECORDS / 2, commits.commits_sent

        # A clean stop: a record handled in a window that cannot close by itself before the stop
        # is committed by the drain, before the consumer closes.
        commits.window_seconds = 60.0
        sent = commits.commits_sent
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, str(RECORDS).encode())
        finally:
            await producer.stop()
        await eventually(lambda: asyncio.sleep(0, seen), lambda s: RECORDS in s, 10, "one more")
        assert commits.commits_sent == sent
        assert await committed(kafka_bootstrap, group, partition) == RECORDS
    finally:
        await commits.drain()
        await broker.stop()
    assert await committed(kafka_bootstrap, group, partition) == RECORDS + 1
    assert commits.commits_sent == sent + 1
