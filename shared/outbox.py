"""Transactional outbox: an event is stored in the same transaction as the state change that caused
it, then relayed to Kafka. A crash between commit and publish delays the event; it never loses it.
Relaying is at-least-once, which the consumers' idempotency makes safe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.background import WakeableLoop
from shared.db import UtcDateTime
from shared.events import Event

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
    )


async def enqueue(
    connection: AsyncConnection, table: sa.Table, topic: str, key: str, event: Event
) -> None:
    await connection.execute(
        table.insert().values(
            event_id=str(event.event_id),
            topic=topic,
            message_key=key,
            payload=event.model_dump_json(),
            correlation_id=event.correlation_id,
            created_at=event.occurred_at,
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
    ) -> None:
        self._engine, self._table, self._publish, self._now = engine, table, publish, now
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
