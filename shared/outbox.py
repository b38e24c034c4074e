"""Transactional outbox: an event is stored in the same transaction as the state change that caused
it, then relayed to Kafka. A crash between commit and publish delays the event; it never loses it.
Relaying is at-least-once, which the consumers' idempotency makes safe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import sqlalchemy as sa
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.background import WakeableLoop
from shared.db import UtcDateTime
from shared.events import Event
from shared.tracing import Tracing, capture_context

Publish = Callable[[str, bytes, bytes, str], Awaitable[None]]  # topic, key, value, correlation id


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
    await connection.execute(
        table.insert().values(
            event_id=str(event.event_id),
            topic=topic,
            message_key=key,
            payload=event.model_dump_json(),
            correlation_id=event.correlation_id,
            created_at=event.occurred_at,
            trace_context=trace_context or capture_context(),
        )
    )


async def prune_published(connection: AsyncConnection, table: sa.Table, before: datetime) -> int:
    """Delete rows published before `before`: once relayed, a row is only a copy of what Kafka
    holds, and it must not outlive the retention of what it describes."""
    result = await connection.execute(
        table.delete().where(table.c.published_at.is_not(None), table.c.published_at < before)
    )
    return result.rowcount or 0


class OutboxRelay:
    """Publishes pending outbox rows in order. `wake()` after a commit publishes at once; a poll
    catches anything left by a crash or a broker outage."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: sa.Table,
        publish: Publish,
        now: Callable[[], datetime],
        poll_seconds: float = 1.0,
        batch: int = 100,
        tracing: Tracing | None = None,
    ) -> None:
        self._engine, self._table, self._publish, self._now = engine, table, publish, now
        self._tracing = tracing or Tracing("outbox", None)
        self._batch = batch
        self._lock = asyncio.Lock()
        self._loop = WakeableLoop("outbox_relay", self.flush, poll_seconds)

    def wake(self) -> None:
        self._loop.wake()

    async def flush(self) -> int:
        """Publish everything pending now; returns how many rows were published."""
        async with self._lock:
            total = 0
            while True:
                async with self._engine.connect() as connection:
                    rows = (
                        await connection.execute(
                            sa.select(self._table)
                            .where(self._table.c.published_at.is_(None))
                            .order_by(self._table.c.id)
                            .limit(self._batch)
                        )
                    ).all()
                if not rows:
                    return total
                for row in rows:
                    # Inside the trace that enqueued the row: FastStream's telemetry middleware
                    # makes its publish span a child of this one and puts the trace context in
                    # the record's headers, where the consumers pick it up.
                    with self._tracing.span(
                        "outbox relay",
                        row.trace_context,
                        {"messaging.system": "kafka", "messaging.destination.name": row.topic},
                        kind=SpanKind.PRODUCER,
                    ):
                        await self._publish(
                            row.topic,
                            row.message_key.encode(),
                            row.payload.encode(),
                            row.correlation_id,
                        )
                    async with self._engine.begin() as connection:
                        await connection.execute(
                            self._table.update()
                            .where(self._table.c.id == row.id)
                            .values(published_at=self._now())
                        )
                    total += 1

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
