"""The outbox relay's hand-over to Kafka: one record batch per topic partition, each record signed.

Handing the relay's rows to FastStream one at a time cost a produce request per row of a key
(`shared/outbox._waves`: a key's second row waits for its first's acknowledgement, so that a
failure cannot reorder them), and FastStream's publish path for every row. A case's five
`TaskOpenedV1` were five produce requests in turn, and five fetches in every group that reads
them. Here a flush's rows go as one batch per partition, in id order, through aiokafka's
`create_batch`/`send_batch`: Kafka writes a record batch whole or not at all, so a key's rows
(one key, one partition) are acknowledged or refused together, and in order.

Hand-made, with a reason: FastStream's own `publish_batch` gives every record of a batch the same
headers, and each of ours carries its own signature (shared/event_signing.py) and trace context.
What FastStream's publish added is added here the same way: the JSON content type and the
correlation id as headers. The partition is the producer's own choice for the key
(`_partition`, the partitioner `send()` uses), so a key's records land where they always did.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from shared.event_signing import EventSigner
from shared.kafka import connected_producer

JSON_CONTENT_TYPE = b"application/json"


@dataclass(frozen=True)
class Outgoing:
    """One outbox row ready to send: `trace` holds the W3C headers of its relay span."""

    topic: str
    key: bytes
    value: bytes
    correlation_id: str
    trace: Mapping[str, str]


@dataclass(frozen=True)
class HandedOver:
    """One batch handed to the producer: the indexes (into the records given) of its rows, in
    order, and its acknowledgement (acks=all) to await."""

    indexes: tuple[int, ...]
    acknowledgement: Awaitable[object]


@dataclass(frozen=True)
class HandOverResult:
    """What was handed over. Rows in no batch were not sent: a partition's batch was full (they
    go in the next round, after this one's acknowledgements) or `failure` stopped the hand-over."""

    handed: list[HandedOver]
    failure: BaseException | None = None


# None: no real producer to batch with (FastStream's in-memory test broker); the relay then hands
# its rows over one at a time through FastStream, as before.
HandOver = Callable[[Sequence[Outgoing]], Awaitable[HandOverResult | None]]


class RecordTooLarge(RuntimeError):
    """A record that an empty batch would not take; aiokafka accepts any first record, so this
    means the producer changed."""


def partition_batches(broker: KafkaBroker, signer: EventSigner) -> HandOver:
    async def hand_over(records: Sequence[Outgoing]) -> HandOverResult | None:
        producer = connected_producer(broker)
        if producer is None:
            return None
        handed: list[HandedOver] = []
        try:
            groups: dict[tuple[str, int], list[int]] = {}
            for index, record in enumerate(records):
                partition = await _partition(producer, record)
                groups.setdefault((record.topic, partition), []).append(index)
            for (topic, partition), indexes in groups.items():
                batch = producer.create_batch()
                taken: list[int] = []
                for index in indexes:
                    if batch.append(**_fields(records[index], signer)) is None:
                        # Full: this partition's later rows wait for the next round, so no key
                        # ever has rows in two batches at once.
                        break
                    taken.append(index)
                if not taken:
                    raise RecordTooLarge(f"an empty batch refused a record for {topic}")
                acknowledgement = await producer.send_batch(batch, topic, partition=partition)
                handed.append(HandedOver(tuple(taken), acknowledgement))
        except Exception as error:  # noqa: BLE001 - the relay marks what was handed and raises it
            return HandOverResult(handed, error)
        return HandOverResult(handed)

    return hand_over


async def _partition(producer: AIOKafkaProducer, record: Outgoing) -> int:
    await producer.partitions_for(record.topic)  # waits for the topic's metadata, as send() does
    # send()'s own choice of partition for the key (see the module docstring)
    partition: int = producer._partition(
        record.topic, None, record.key, record.value, record.key, record.value
    )
    return partition


def _fields(record: Outgoing, signer: EventSigner) -> dict[str, object]:
    headers = [
        ("content-type", JSON_CONTENT_TYPE),
        # FastStream makes one up for a publish without one; so do we.
        ("correlation_id", (record.correlation_id or str(uuid.uuid4())).encode()),
        # Outside the signature, as in shared/app.send_bytes: they steer only which trace the
        # consumer's span joins.
        *((name, value.encode()) for name, value in record.trace.items()),
        *(
            (name, value.encode())
            for name, value in signer.headers(record.topic, record.key, record.value).items()
        ),
    ]
    return {"key": record.key, "value": record.value, "timestamp": None, "headers": headers}
