"""The samplers every service runs (shared/metrics.py): outbox backlog and consumer lag."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import LogicSubscriber
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.metrics import Sampler, ServiceMetrics


def outbox_sampler(
    metrics: ServiceMetrics, engine: AsyncEngine, outbox: sa.Table, now: Callable[[], datetime]
) -> Sampler:
    """Rows waiting for the relay and the age of the oldest: a stuck relay (broker refusing,
    signing failing) shows as a growing age long before anyone misses an event."""

    async def sample() -> None:
        async with engine.connect() as connection:
            waiting, oldest = (
                await connection.execute(
                    sa.select(sa.func.count(), sa.func.min(outbox.c.created_at)).where(
                        outbox.c.published_at.is_(None)
                    )
                )
            ).one()
        metrics.outbox_backlog_rows.set(int(waiting))
        age = (now() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.outbox_oldest_age_seconds.set(max(0.0, age))

    return sample


def consumer_lag_sampler(metrics: ServiceMetrics, broker: KafkaBroker) -> Sampler:
    return lag_sampler(metrics, lambda: _consumers(broker))


def lag_sampler(
    metrics: ServiceMetrics, consumers: Callable[[], list[tuple[str, AIOKafkaConsumer]]]
) -> Sampler:
    """Lag per group, topic and partition, read from the subscribers' own aiokafka consumers:
    the high-water mark they learn with every fetch, minus the group's committed offset. This needs
    no admin client and no extra ACL (a consumer may read its own group's offsets and the topics it
    reads), and it measures what matters here: records not yet committed, i.e. not yet handled or
    dead-lettered. A partition not yet fetched has no high-water mark and is skipped until it has."""
    reported: set[tuple[str, str, str]] = set()

    async def sample() -> None:
        seen: set[tuple[str, str, str]] = set()
        for group, consumer in consumers():
            for tp in sorted(consumer.assignment()):
                high = consumer.highwater(tp)
                if high is None:
                    continue
                done = await consumer.committed(tp)
                if done is None:  # the group never committed here: all since the start is lag
                    done = (await consumer.beginning_offsets([tp]))[tp]
                labels = (group, metrics.topic_base(tp.topic), str(tp.partition))
                metrics.consumer_lag.labels(*labels).set(max(0, int(high) - int(done)))
                seen.add(labels)
        # A partition moved to another instance by a rebalance is that instance's to report.
        for labels in reported - seen:
            metrics.consumer_lag.remove(*labels)
        reported.clear()
        reported.update(seen)

    return sample


def _consumers(broker: KafkaBroker) -> list[tuple[str, AIOKafkaConsumer]]:
    found: list[tuple[str, AIOKafkaConsumer]] = []
    for subscriber in broker.subscribers:
        if not isinstance(subscriber, LogicSubscriber) or not subscriber.group_id:
            continue
        consumers = getattr(subscriber, "consumer_subgroup", None) or [subscriber.consumer]
        found.extend(
            (subscriber.group_id, consumer)
            for consumer in consumers
            # Not started, or FastStream's in-memory test broker: nothing to measure.
            if isinstance(consumer, AIOKafkaConsumer)
        )
    return found
