"""Offset commits gathered over a window (shared/offset_commits.py): only handled records, at their
own offset + 1, one request per window, everything noted committed on a clean stop, and a
partition moved away by a rebalance left to its new owner."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord

from shared.offset_commits import OffsetCommits

A = TopicPartition("t", 0)
B = TopicPartition("t", 1)


class StandInConsumer:
    """Records the commits it is asked for; owns the partitions it is told."""

    def __init__(self, owned: set[TopicPartition], fail: bool = False) -> None:
        self.owned, self.fail = owned, fail
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail:
            raise CommitFailedError("the group rebalanced")
        self.commits.append(dict(offsets))


def record(partition: TopicPartition, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=partition.topic, partition=partition.partition, offset=offset, timestamp=0,
        timestamp_type=0, key=None, value=b"", checksum=None, serialized_key_size=0,
        serialized_value_size=0, headers=(),
    )  # fmt: skip


def as_consumer(stand_in: StandInConsumer) -> AIOKafkaConsumer:
    return cast(AIOKafkaConsumer, stand_in)


async def test_a_window_of_records_is_one_commit_at_each_partitions_next_offset() -> None:
    consumer = StandInConsumer({A, B})
    commits = OffsetCommits(0.05)
    for offset in range(5):
        await commits.handled(as_consumer(consumer), record(A, offset))
    await commits.handled(as_consumer(consumer), record(B, 7))
    assert consumer.commits == []  # nothing sent inside the window
    await asyncio.sleep(0.15)
    assert consumer.commits == [{A: 5, B: 8}]
    assert commits.commits_sent == 1


async def test_a_record_read_again_after_a_nack_never_moves_the_commit_back() -> None:
    consumer = StandInConsumer({A})
    commits = OffsetCommits(0.05)
    await commits.handled(as_consumer(consumer), record(A, 9))
    await commits.handled(as_consumer(consumer), record(A, 4))
    await asyncio.sleep(0.15)
    assert consumer.commits == [{A: 10}]


async def test_a_clean_stop_commits_what_was_noted_and_then_each_record_at_once() -> None:
    consumer = StandInConsumer({A})
    commits = OffsetCommits(60.0)
    await commits.handled(as_consumer(consumer), record(A, 0))
    await commits.handled(as_consumer(consumer), record(A, 1))
    await commits.drain()
    assert consumer.commits == [{A: 2}]
    # A handler still running when the stop began finishes afterwards: committed before it returns.
    await commits.handled(as_consumer(consumer), record(A, 2))
    assert consumer.commits == [{A: 2}, {A: 3}]


async def test_a_partition_moved_away_is_left_to_its_new_owner() -> None:
    consumer = StandInConsumer({A, B})
    commits = OffsetCommits(0.05)
    await commits.handled(as_consumer(consumer), record(A, 0))
    await commits.handled(as_consumer(consumer), record(B, 0))
    consumer.owned = {B}  # a rebalance inside the window
    await asyncio.sleep(0.15)
    assert consumer.commits == [{B: 1}]


async def test_a_failed_commit_does_not_stop_the_next_window_committing() -> None:
    consumer = StandInConsumer({A}, fail=True)
    commits = OffsetCommits(0.05)
    await commits.handled(as_consumer(consumer), record(A, 0))
    await asyncio.sleep(0.15)
    assert consumer.commits == []
    consumer.fail = False
    await commits.handled(as_consumer(consumer), record(A, 1))
    await asyncio.sleep(0.15)
    assert consumer.commits == [{A: 2}]


async def test_no_window_commits_each_record_as_it_is_handled() -> None:
    consumer = StandInConsumer({A})
    commits = OffsetCommits(0.0)
    await commits.handled(as_consumer(consumer), record(A, 0))
    await commits.handled(as_consumer(consumer), record(A, 1))
    assert consumer.commits == [{A: 1}, {A: 2}]
