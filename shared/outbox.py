"""Transactional outbox: an event is stored in the same transaction as the state change that caused
it, then relayed to Kafka. A crash between commit and publish delays the event; it never loses it.
Relaying is at-least-once, which the consumers' idempotency makes safe.

Several instances of a service on one PostgreSQL database relay one at a time (see
`OutboxRelay`); on SQLite a service runs as one instance only (shared/instance_lock.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.background import WakeableLoop
from shared.db import UtcDateTime, advisory_lock_key
from shared.events import Event
from shared.logging import get_logger
from shared.partition_batches import HandOver, Outgoing
from shared.sqlite_driver import on_database_thread
from shared.tracing import Tracing, capture_context, trace_headers

log = get_logger(__name__)

# The last step of a service's shutdown hook, which FastStream runs before it stops the broker
# (still connected here); after the notifier's drain of up to 8 s, within its stop grace period.
FINAL_FLUSH_SECONDS = 1.0

# Hands one record (topic, key, value, correlation id) to the producer. Returns its
# acknowledgement to await (with acks=all: every in-sync replica has it), or None when handing it
# over already waited for it.
Publish = Callable[[str, bytes, bytes, str], Awaitable[Awaitable[object] | None]]


def _waves(rows: Sequence[sa.Row[Any]]) -> list[list[int]]:
    """The indexes of `rows` in waves: a key's (topic and message key) first row in the first
    wave, its second in the second, and so on; each wave in id order. A wave is handed over whole
    and its acknowledgements awaited before the next, so rows of different keys travel together
    and two rows of one key never are."""
    seen: Counter[tuple[str, str]] = Counter()
    waves: list[list[int]] = []
    for index, row in enumerate(rows):
        key = (row.topic, row.message_key)
        layer = seen[key]
        seen[key] += 1
        if layer == len(waves):
            waves.append([])
        waves[layer].append(index)
    return waves


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("message_key", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=True),
        # W3C traceparent/tracestate of the enqueuing span, JSON (shared/tracing.py).
        sa.Column("trace_context", sa.Text, nullable=True),
        sa.Index("ix_outbox_unpublished", "published_at", "id"),
    )


async def enqueue(
    connection: AsyncConnection,
    table: sa.Table,
    topic: str,
    key: str,
    event: Event,
    trace_context: str | None = None,
) -> None:
    """Store `event` for the relay, with the trace context it was caused in: `trace_context` if
    given (work done outside the span that caused it, e.g. by a timer), else the current one."""
    await enqueue_many(connection, table, [(topic, key, event)], trace_context)


async def enqueue_many(
    connection: AsyncConnection,
    table: sa.Table,
    events: Sequence[tuple[str, str, Event]],
    trace_context: str | None = None,
) -> None:
    """`enqueue` for several (topic, key, event) in one statement, in the given order: the rows'
    ids (the relay's order) follow the list."""
    if not events:
        return
    context = trace_context or capture_context()
    await connection.execute(
        _plain_insert(table),
        [
            {
                "event_id": str(event.event_id),
                "topic": topic,
                "message_key": key,
                "payload": event.model_dump_json(),
                "correlation_id": event.correlation_id,
                "created_at": event.occurred_at,
                "trace_context": context,
            }
            for topic, key, event in events
        ],
    )


@lru_cache(maxsize=16)  # one outbox table per service
def _plain_insert(table: sa.Table) -> sa.Insert:
    """The table's INSERT, built once: the values go as parameters (an executemany)."""
    return table.insert()


@on_database_thread  # no limit on the rows: on SQLite it must not hold the loop
async def prune_published(connection: AsyncConnection, table: sa.Table, before: datetime) -> int:
    """Delete rows published before `before`: once relayed, a row is only a copy of what Kafka
    holds, and it must not outlive the retention of what it describes."""
    result = await connection.execute(
        table.delete().where(table.c.published_at.is_not(None), table.c.published_at < before)
    )
    return result.rowcount or 0


class OutboxRelay:
    """Publishes pending outbox rows in order. `wake()` after a commit publishes at once; a poll
    catches anything left by a crash or a broker outage.

    A flush reads a batch of rows in id order, hands them to the producer without waiting for
    each acknowledgement in turn, awaits the acknowledgements together, and marks the
    acknowledged rows published in one statement. With a `hand_over` (the services' relays), the
    rows go as one record batch per partition, which Kafka writes whole or not at all, so a key's
    rows (one partition) are never split by a failure (`_relay_in_batches`). Without one (and
    under FastStream's in-memory test broker), rows go one at a time, and two rows with the same
    topic and key are never in flight together: the second is handed over only once the first is
    acknowledged (see `_waves`). Either way, whatever fails, a key's events reach Kafka in order.

    On PostgreSQL each batch is read, relayed and marked inside one transaction holding an
    advisory lock (`lock_name`, one per service and database), so however many instances of a
    service run, one relays at a time and the others wait their turn. Not row claims (`FOR UPDATE
    SKIP LOCKED`): two instances relaying different rows of one key at once could reorder that
    key's events, and a wave's order-keeping holds only within one relay. The lock is the
    transaction's: a relay killed mid-batch drops its connection, PostgreSQL releases the lock
    and rolls the batch back, and the next holder publishes that batch again (at-least-once, as
    after any crash). An instance woken while another relays waits for the lock and then flushes,
    so its own new rows are not left for the next poll."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: sa.Table,
        publish: Publish,
        now: Callable[[], datetime],
        poll_seconds: float = 1.0,
        batch: int = 100,
        tracing: Tracing | None = None,
        lock_name: str = "outbox relay",
        hand_over: HandOver | None = None,
        counted: Callable[[Mapping[str, int]], None] = lambda _: None,
    ) -> None:
        self._engine, self._table, self._publish, self._now = engine, table, publish, now
        self._hand_over, self._counted = hand_over, counted
        self._lock_key = advisory_lock_key(f"{lock_name}:{table.name}")
        self._tracing = tracing or Tracing("outbox", None)
        self._batch = batch
        # Built once, as they run on every flush; the ids and the time go as parameters.
        self._pending_query = (
            sa.select(table).where(table.c.published_at.is_(None)).order_by(table.c.id).limit(batch)
        )
        self._mark_statement = (
            table.update()
            .where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
            .values(published_at=sa.bindparam("marked_at", type_=table.c.published_at.type))
        )
        self._lock = asyncio.Lock()
        self._loop = WakeableLoop("outbox_relay", self.flush, poll_seconds)

    def wake(self) -> None:
        self._loop.wake()

    def wake_within(self, seconds: float) -> None:
        """Publish within `seconds` rather than at once: rows committed meanwhile go in the same
        flush (one read, one hand-over, one mark and one commit for the lot). For events nobody
        waits on within that time; 0 is `wake()`."""
        if seconds <= 0:
            self.wake()
        else:
            self._loop.wake_in(seconds)

    async def flush(self) -> int:
        """Publish everything pending now; returns how many rows were published. Raises the first
        failure after marking what was published before it (the loop retries, backing off to its
        poll: shared/background.py)."""
        async with self._lock:
            total = 0
            while True:
                async with self._turn() as held:
                    rows = await self._pending(held)
                    if not rows:
                        return total
                    published, failure = await self._relay(rows)
                    if published:
                        await self._mark(held, published)
                # Counted once the mark is committed (PostgreSQL: when the turn ends).
                marked = set(published)
                self._counted(Counter(row.topic for row in rows if row.id in marked))
                total += len(published)
                if failure is not None:
                    raise failure
                if len(rows) < self._batch:
                    # All that was pending when this batch was read; a row committed since then
                    # came with a wake(), which runs the loop again.
                    return total

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[AsyncConnection | None]:
        """PostgreSQL: a transaction holding this relay's advisory lock until it commits.
        SQLite (one instance): None, and each statement runs on its own as it always has."""
        if self._engine.dialect.name != "postgresql":
            yield None
            return
        async with self._engine.begin() as connection:
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(self._lock_key)))
            yield connection

    async def _pending(self, held: AsyncConnection | None) -> Sequence[sa.Row[Any]]:
        query = self._pending_query
        if held is not None:
            return (await held.execute(query)).all()
        async with self._engine.connect() as connection:
            return (await connection.execute(query)).all()

    async def _mark(self, held: AsyncConnection | None, ids: list[int]) -> None:
        parameters = {"ids": ids, "marked_at": self._now()}
        if held is not None:
            await held.execute(self._mark_statement, parameters)
            return
        async with self._engine.begin() as connection:
            await connection.execute(self._mark_statement, parameters)

    async def _relay(self, rows: Sequence[sa.Row[Any]]) -> tuple[list[int], BaseException | None]:
        """Hand `rows` to the producer and await their acknowledgements; returns the ids to mark
        published and the first failure, if any: in one batch per partition when the relay has a
        `hand_over` and a producer to batch with, otherwise one row at a time."""
        if self._hand_over is not None:
            relayed = await self._relay_in_batches(self._hand_over, rows)
            if relayed is not None:
                return relayed
        return await self._relay_in_waves(rows)

    async def _relay_in_batches(
        self, hand_over: HandOver, rows: Sequence[sa.Row[Any]]
    ) -> tuple[list[int], BaseException | None] | None:
        """Rounds of one batch per topic partition (shared/partition_batches.py), each round's
        acknowledgements awaited together. A key's rows share a partition, so they share a batch,
        which Kafka writes whole or not at all: a failure cannot reorder them. A row left out of a
        full batch goes in the next round; none starts after a failure. What is marked is, as in
        `_relay_in_waves`, the longest acknowledged prefix. None: `hand_over` has no producer."""
        acknowledged: set[int] = set()
        failure: BaseException | None = None
        remaining = list(range(len(rows)))
        while remaining and failure is None:
            outgoing = [self._outgoing(rows[index]) for index in remaining]
            result = await hand_over(outgoing)
            if result is None:
                return None
            failure = result.failure
            outcomes = await asyncio.gather(
                *(batch.acknowledgement for batch in result.handed), return_exceptions=True
            )
            handed: set[int] = set()
            for batch, outcome in zip(result.handed, outcomes, strict=True):
                handed.update(batch.indexes)
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                else:
                    acknowledged.update(remaining[index] for index in batch.indexes)
            remaining = [row for index, row in enumerate(remaining) if index not in handed]
        return self._prefix(rows, acknowledged), failure

    def _outgoing(self, row: sa.Row[Any]) -> Outgoing:
        # The row's span, inside the trace that enqueued it: the record's trace headers name it,
        # so the consumer's span is its child and the trace runs on from the enqueuing request.
        with self._tracing.span(
            "outbox relay",
            row.trace_context,
            {"messaging.system": "kafka", "messaging.destination.name": row.topic},
            kind=SpanKind.PRODUCER,
        ):
            trace = trace_headers()
        return Outgoing(
            row.topic, row.message_key.encode(), row.payload.encode(), row.correlation_id, trace
        )

    @staticmethod
    def _prefix(rows: Sequence[sa.Row[Any]], acknowledged: set[int]) -> list[int]:
        return [
            rows[index].id
            for index in itertools.takewhile(acknowledged.__contains__, range(len(rows)))
        ]

    async def _relay_in_waves(
        self, rows: Sequence[sa.Row[Any]]
    ) -> tuple[list[int], BaseException | None]:
        """One row at a time through `publish`, in waves (`_waves`).

        On a failure only the longest prefix of `rows` (in id order) whose every row was
        acknowledged is marked: the next flush publishes again from the first row that failed,
        in order. A row after it that was acknowledged is published twice, which the consumers'
        idempotency makes harmless; it is never published before an earlier row of its own key,
        because a key's next row is handed over only after its previous one was acknowledged
        (one row per key per wave) and no wave starts after a failure."""
        acknowledged: set[int] = set()
        failure: BaseException | None = None
        for wave in _waves(rows):
            sent: list[tuple[int, Awaitable[object]]] = []
            for index in wave:
                row = rows[index]
                try:
                    # Inside the trace that enqueued the row: FastStream's telemetry middleware
                    # makes its publish span a child of this one and puts the trace context in
                    # the record's headers, where the consumers pick it up. The span covers the
                    # hand-over to the producer; the acknowledgement is awaited below.
                    with self._tracing.span(
                        "outbox relay",
                        row.trace_context,
                        {"messaging.system": "kafka", "messaging.destination.name": row.topic},
                        kind=SpanKind.PRODUCER,
                    ):
                        acknowledgement = await self._publish(
                            row.topic,
                            row.message_key.encode(),
                            row.payload.encode(),
                            row.correlation_id,
                        )
                except Exception as error:  # noqa: BLE001 - handed back to flush, raised there
                    failure = error
                    break  # nothing more is handed over; what was, is still awaited
                if acknowledgement is None:
                    acknowledged.add(index)
                else:
                    sent.append((index, acknowledgement))
            outcomes = await asyncio.gather(*(ack for _, ack in sent), return_exceptions=True)
            for (index, _), outcome in zip(sent, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failure = failure or outcome
                else:
                    acknowledged.add(index)
            if failure is not None:
                break
        return self._prefix(rows, acknowledged), failure

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        """Stops the loop. A pass under way is let finish, and a flush that was asked for (`wake`,
        `wake_within`) and had not run yet, or a pass cut off, runs now: all within
        FINAL_FLUSH_SECONDS, so a clean stop neither leaves committed events for the next start
        nor publishes twice what a pass had handed over and not yet marked (which cancelling
        that pass would). Whatever is not published in time stays pending, as after a crash."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + FINAL_FLUSH_SECONDS
        if not await self._loop.stop(grace_seconds=FINAL_FLUSH_SECONDS):
            return
        if loop.time() >= ends:  # a pass used the whole budget and was cut off
            log.warning("outbox_final_flush_skipped", reason="no time left")
            return
        try:
            async with asyncio.timeout_at(ends):
                await self.flush()
        except Exception as error:  # noqa: BLE001 - the rows stay pending for the next start
            log.warning("outbox_final_flush_failed", error_type=type(error).__name__)
