"""The baseline: the least a two-hop Kafka pipeline can cost on this machine and broker, written
with raw aiokafka in this process. producer → topic A → consumer that republishes → topic B →
consumer. It uses what the services use (PRODUCER_SAFETY, a consumer group, auto-commit off and a
commit after each record, one record at a time like a FastStream subscriber) and carries a real
police contact's bytes, but has no database, outbox, HTTP or business logic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from contextlib import AsyncExitStack
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.runs import BASELINE_METRIC, Run
from shared.kafka import PRODUCER_SAFETY, ensure_topics
from shared.topics import DAY_MS, POLICE_CONTACTS, TopicSpec
from tests.support.ground_truth import contact_body

# As many partitions as the ingress topic, so consumers see the same spread of work.
HOP_A = TopicSpec("bench.hop-a.v1", POLICE_CONTACTS.partitions, DAY_MS, "baseline first hop")
HOP_B = TopicSpec("bench.hop-b.v1", POLICE_CONTACTS.partitions, DAY_MS, "baseline second hop")
BODY_POOL = 200  # distinct contact bodies, reused: the bytes matter, generating 50 000 does not


class PipelineFailed(RuntimeError):
    """A relay or sink loop stopped: the numbers after that would mean nothing."""


class TwoHopPipeline:
    """`async with TwoHopPipeline(bootstrap, prefix) as pipeline: await pipeline.run(...)`."""

    def __init__(self, bootstrap: str, prefix: str, replication_factor: int | None = None) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self.replication_factor = replication_factor  # None: 1 on one broker, else 3
        self.topic_a, self.topic_b = HOP_A.full_name(prefix), HOP_B.full_name(prefix)
        rng = random.Random(20261128)
        self._bodies = [
            json.dumps(contact_body(f"BL/{prefix}/{n:06d}", rng)).encode() for n in range(BODY_POOL)
        ]
        self._received: dict[str, float] = {}  # key → monotonic receipt at the end of hop 2
        self._outstanding: set[str] = set()  # sent and acknowledged, not yet received
        self._loops: list[asyncio.Task[None]] = []
        self._stack = AsyncExitStack()

    @property
    def payload_bytes(self) -> int:
        return len(self._bodies[0])

    async def __aenter__(self) -> TwoHopPipeline:
        try:
            await ensure_topics(
                self.bootstrap,
                self.prefix,
                specs=(HOP_A, HOP_B),
                replication_factor=self.replication_factor,
            )
            self._producer = await self._started(self._new_producer())
            relay_producer = await self._started(self._new_producer())
            relay = await self._started(self._new_consumer(self.topic_a, "relay"))
            sink = await self._started(self._new_consumer(self.topic_b, "sink"))
            self._loops = [
                asyncio.create_task(self._relay(relay, relay_producer), name="baseline-relay"),
                asyncio.create_task(self._sink(sink), name="baseline-sink"),
            ]
            self._stack.push_async_callback(self._cancel_loops)
            # The first records wait for both consumer groups to form; keep that out of the runs.
            warm = await self.run(5, 10.0, "warm-up", drain_seconds=60.0)
            if warm.incomplete or warm.refused:
                raise PipelineFailed("the baseline pipeline did not pass its warm-up records")
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.bootstrap, **PRODUCER_SAFETY)

    def _new_consumer(self, topic: str, role: str) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"{self.prefix}{role}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def _started(self, client: Any) -> Any:
        await client.start()

        async def stop() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop(), 15)

        self._stack.push_async_callback(stop)
        return client

    async def _cancel_loops(self) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)

    async def _relay(self, consumer: Any, producer: Any) -> None:
        async for record in consumer:
            await producer.send_and_wait(self.topic_b, record.value, key=record.key)
            await consumer.commit()

    async def _sink(self, consumer: Any) -> None:
        async for record in consumer:
            key = record.key.decode()
            self._received.setdefault(key, time.monotonic())
            self._outstanding.discard(key)
            await consumer.commit()

    def _check_loops(self) -> None:
        for loop in self._loops:
            if loop.done():
                error = None if loop.cancelled() else loop.exception()
                raise PipelineFailed(f"{loop.get_name()} stopped: {error!r}")

    async def settle(self, limit: float) -> bool:
        """Wait until every record sent so far has come out of hop 2; False if `limit` ran out."""
        deadline = time.monotonic() + limit
        while self._outstanding:
            self._check_loops()
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def run(self, count: int, rate: float, label: str, drain_seconds: float) -> Run:
        """Open loop: record i is planned at start + i/rate and sent then, whatever happened to the
        ones before; latency runs from the planned instant, so a lagging sender counts too."""
        keys = [f"{label}/{n:06d}" for n in range(count)]
        start = time.monotonic() + 0.05
        run = Run("baseline", label, rate, count, start)
        sends: list[asyncio.Task[bool]] = []
        for number, key in enumerate(keys):
            planned = start + number / rate
            run.planned[key] = planned
            # A sender that is behind still yields, or the relay and sink in this same loop
            # would starve until it caught up.
            await asyncio.sleep(max(0.0, planned - time.monotonic()))
            self._outstanding.add(key)
            body = self._bodies[number % len(self._bodies)]
            sends.append(asyncio.create_task(self._send(key, body)))
        acknowledged = await asyncio.gather(*sends)
        for key, ok in zip(keys, acknowledged, strict=True):
            if not ok:
                run.refused.append(key)
                self._outstanding.discard(key)
        wanted = [key for key, ok in zip(keys, acknowledged, strict=True) if ok]
        await self._wait_for(wanted, drain_seconds)
        latencies = run.latencies.setdefault(BASELINE_METRIC, {})
        for key in wanted:
            received = self._received.get(key)
            if received is None:
                run.incomplete.append(key)
                continue
            latencies[key] = received - run.planned[key]
            run.done[key] = received
        return run

    async def _send(self, key: str, body: bytes) -> bool:
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(self.topic_a, body, key=key.encode()), 10
            )
        except Exception:  # noqa: BLE001 - an unacknowledged send is counted as refused
            return False
        return True

    async def _wait_for(self, keys: list[str], limit: float) -> None:
        deadline = time.monotonic() + limit
        pending = set(keys)
        while True:
            # Pruned as records arrive, so each check costs what is still missing, not the run.
            pending = {key for key in pending if key not in self._received}
            if not pending:
                return
            self._check_loops()
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.1)
