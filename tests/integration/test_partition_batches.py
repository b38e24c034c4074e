"""The outbox relay's batches (shared/partition_batches.py): against the real broker, a flush's rows
go as one record batch per partition, each record signed and on its key's usual partition, each
key's rows in order; a partition's batch that is full sends the rest in a later round. Against a
producer stand-in, a batch refused marks only the acknowledged prefix, and no producer to batch
with means one row at a time, as before."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.event_signing import EventSigner, EventVerifier
from shared.kafka import create_broker
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay, outbox_table
from shared.partition_batches import HandedOver, HandOver, HandOverResult, Outgoing
from shared.partition_batches import partition_batches as real_partition_batches
from shared.topics import TASKS
from tests.support.databases import DatabaseUrls
from tests.support.kafka import read_all
from tests.support.signing import TEST_EVENT_KEY_IDS, TEST_EVENT_PUBLIC_KEYS, TEST_EVENT_SEEDS

pytestmark = pytest.mark.integration

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
METADATA = sa.MetaData()
OUTBOX = outbox_table(METADATA)
SIGNER = EventSigner.from_seed(
    "casework", TEST_EVENT_KEY_IDS["casework"], TEST_EVENT_SEEDS["casework"]
)


@asynccontextmanager
async def outbox(
    database_urls: DatabaseUrls, topic: str, rows: Sequence[tuple[str, str]]
) -> AsyncIterator[AsyncEngine]:
    """A fresh outbox holding one pending row per (key, payload), in order."""
    engine = create_engine(await database_urls.new("outbox"))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(METADATA.create_all)
            for key, payload in rows:
                await connection.execute(
                    OUTBOX.insert().values(
                        event_id=uuid.uuid4().hex, topic=topic, message_key=key,
                        payload=payload, correlation_id=f"corr-{key}", created_at=NOW,
                    )
                )  # fmt: skip
        yield engine
    finally:
        await engine.dispose()


async def published(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        query = sa.select(OUTBOX.c.payload).where(OUTBOX.c.published_at.is_not(None))
        return list((await connection.execute(query.order_by(OUTBOX.c.id))).scalars())


async def one_at_a_time(topic: str, key: bytes, value: bytes, correlation_id: str) -> None:
    raise AssertionError("a row went one at a time although the relay could batch")


class Rounds:
    """Wraps a hand-over and keeps what each round handed: [[indexes of each batch], ...]."""

    def __init__(self, inner: HandOver) -> None:
        self.inner = inner
        self.rounds: list[list[tuple[int, ...]]] = []

    async def __call__(self, records: Sequence[Outgoing]) -> HandOverResult | None:
        result = await self.inner(records)
        if result is not None:
            self.rounds.append([batch.indexes for batch in result.handed])
        return result


def payload(number: int, padding: int = 0) -> str:
    return json.dumps({"producer": "casework", "number": number, "padding": "x" * padding})


@pytest.mark.parametrize("database_kind", ["sqlite", "postgresql"], indirect=True)
async def test_one_batch_per_partition_signed_in_order_on_each_keys_partition(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    topic = TASKS.full_name(topic_prefix)
    keys = ["case-a", "case-b", "case-a", "case-c", "case-b", "case-a", "case-d", "case-c"] * 2
    broker = create_broker(kafka_bootstrap, client_id="casework")
    await broker.connect()
    try:
        rounds = Rounds(real_partition_batches(broker, SIGNER))
        metrics = ServiceMetrics("casework", topic_prefix=topic_prefix)
        rows = [(key, payload(number)) for number, key in enumerate(keys)]
        async with outbox(database_urls, topic, rows) as engine:
            relay = OutboxRelay(
                engine, OUTBOX, one_at_a_time, lambda: NOW, hand_over=rounds,
                counted=metrics.count_published,
            )  # fmt: skip
            assert await relay.flush() == len(keys)
            assert await published(engine) == [value for _, value in rows]
    finally:
        await broker.stop()
    assert metrics.registry.get_sample_value(
        "safeguarding_outbox_published_total", {"topic": TASKS.name}
    ) == len(keys)

    records = await read_all(kafka_bootstrap, [topic])
    assert sorted(json.loads(r.value)["number"] for r in records) == list(range(len(keys)))
    partitions = list(range(TASKS.partitions))
    expected = {key: DefaultPartitioner()(key.encode(), partitions, partitions) for key in keys}
    # One round; as many batches as partitions the keys fall on, each whole.
    assert len(rounds.rounds) == 1, rounds.rounds
    assert len(rounds.rounds[0]) == len(set(expected.values()))
    verifier = EventVerifier.from_config(TEST_EVENT_PUBLIC_KEYS, topic_prefix)
    by_key: dict[str, list[int]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None
        assert record.value is not None
        key = record.key.decode()
        # Where send() would have put it: a key's events stay on their partition.
        assert record.partition == expected[key], key
        assert verifier.verify(record.topic, record.key, record.value, record.headers) == (
            "casework"
        )
        headers = dict(record.headers)
        assert headers["correlation_id"] == f"corr-{key}".encode()
        assert headers["content-type"] == b"application/json"
        by_key.setdefault(key, []).append(json.loads(record.value)["number"])
    for key, numbers in by_key.items():
        assert numbers == sorted(numbers), key
        assert numbers == [n for n, k in enumerate(keys) if k == key]


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_a_full_batch_sends_the_rest_of_its_partition_in_a_later_round(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls
) -> None:
    topic = TASKS.full_name(topic_prefix)
    # Six rows of one key of about 6 KB each: aiokafka's 16 KB batch holds two or three.
    rows = [("case-a", payload(number, padding=6000)) for number in range(6)]
    broker = create_broker(kafka_bootstrap, client_id="casework")
    await broker.connect()
    try:
        rounds = Rounds(real_partition_batches(broker, SIGNER))
        async with outbox(database_urls, topic, rows) as engine:
            relay = OutboxRelay(engine, OUTBOX, one_at_a_time, lambda: NOW, hand_over=rounds)
            assert await relay.flush() == 6
            assert await published(engine) == [value for _, value in rows]
    finally:
        await broker.stop()
    assert len(rounds.rounds) >= 2, rounds.rounds
    assert all(len(batches) == 1 for batches in rounds.rounds)  # one batch of the key at a time
    records = await read_all(kafka_bootstrap, [topic])
    in_order = sorted(records, key=lambda r: r.offset)
    assert [json.loads(r.value)["number"] for r in in_order] == list(range(6))


class StandIn:
    """Batches by key, as the real hand-over batches by partition; `refuse` names keys whose
    batch's first acknowledgement is an error. `available` False: no producer to batch with."""

    def __init__(self, refuse: set[str] | None = None, available: bool = True) -> None:
        self.refuse = refuse or set()
        self.available = available
        self.batches: list[list[str]] = []

    async def __call__(self, records: Sequence[Outgoing]) -> HandOverResult | None:
        if not self.available:
            return None
        groups: dict[bytes, list[int]] = {}
        for index, record in enumerate(records):
            groups.setdefault(record.key, []).append(index)
        handed = []
        for key, indexes in groups.items():
            self.batches.append([records[index].value.decode() for index in indexes])
            acknowledgement: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            if key.decode() in self.refuse:
                self.refuse.discard(key.decode())
                acknowledgement.set_exception(ConnectionError(f"{key.decode()} refused"))
            else:
                acknowledgement.set_result(None)
            handed.append(HandedOver(tuple(indexes), acknowledgement))
        return HandOverResult(handed)


@pytest.mark.parametrize("database_kind", ["sqlite", "postgresql"], indirect=True)
async def test_a_refused_batch_marks_only_the_acknowledged_prefix(
    database_urls: DatabaseUrls,
) -> None:
    keys = ["a", "b", "a", "c", "b"]
    rows = [(key, str(number)) for number, key in enumerate(keys)]
    async with outbox(database_urls, "t", rows) as engine:
        stand_in = StandIn(refuse={"b"})
        counted: list[dict[str, int]] = []
        relay = OutboxRelay(
            engine, OUTBOX, one_at_a_time, lambda: NOW, hand_over=stand_in,
            counted=lambda topics: counted.append(dict(topics)),
        )  # fmt: skip
        with pytest.raises(ConnectionError, match="b refused"):
            await relay.flush()
        # a's batch (0, 2) and c's (3) were acknowledged; b's (1, 4) refused whole. Only the
        # prefix before row 1 is marked: the next flush sends again from it, in order.
        assert stand_in.batches == [["0", "2"], ["1", "4"], ["3"]]
        assert await published(engine) == ["0"]
        assert counted == [{"t": 1}]  # what was marked, not what was acknowledged
        assert await relay.flush() == 4
        assert counted[1:] == [{"t": 4}]
        assert stand_in.batches[3:] == [["1", "4"], ["2"], ["3"]]
        assert await published(engine) == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_no_producer_to_batch_with_sends_one_row_at_a_time(
    database_urls: DatabaseUrls,
) -> None:
    handed: list[str] = []

    async def publish(topic: str, key: bytes, value: bytes, correlation_id: str) -> None:
        handed.append(value.decode())  # delivered before it returns, like the in-memory broker

    async with outbox(database_urls, "t", [("a", "0"), ("a", "1"), ("b", "2")]) as engine:
        stand_in = StandIn(available=False)
        relay = OutboxRelay(engine, OUTBOX, publish, lambda: NOW, hand_over=stand_in)
        assert await relay.flush() == 3
    assert stand_in.batches == []
    assert handed == ["0", "2", "1"]  # in waves: a's second row after its first
