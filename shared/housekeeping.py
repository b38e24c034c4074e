"""Housekeeping: each service's background job that prunes what its database no longer needs.

- Outbox rows published more than `outbox_keep_hours` ago. Once relayed, a row is only a copy of
  what Kafka holds. Unpublished rows are never touched, whatever their age: they are events still
  owed to Kafka (a broker outage, a crash), and deleting one would lose it.
- `processed_events` (the consumers' idempotency claims, shared/db.py claim_event) older than
  `processed_events_keep_days`. A claim may go only once no copy of its event can reach the
  consumer again; see `redelivery_horizon` for the rule, which ServiceSettings enforces at start.

Deletes run in batches of `housekeeping_batch_rows`, one short transaction each: a backlog of a
million rows must not hold SQLite's single write lock (or long PostgreSQL row locks) while the
consumers and the outbox relay wait behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import WakeableLoop
from shared.logging import get_logger
from shared.topics import ALL_TOPICS, DEAD_LETTERS, TopicSpec

if TYPE_CHECKING:
    from shared.app import Infrastructure

log = get_logger(__name__)

OUTBOX = "outbox"
PROCESSED_EVENTS = "processed_events"


def redelivery_horizon(specs: tuple[TopicSpec, ...] = ALL_TOPICS) -> timedelta:
    """The longest time after a consumer first applied an event that a copy of that event can
    still reach it, counted from the claim's `processed_at` (never earlier than the write):

    - the original record stays readable for its topic's retention R; an operator who rewinds a
      group's offsets (after a restore, docs/deployment/backup.md) makes the consumer read it again;
    - `python -m deploy.deadletters replay` produces the record again from its source offset, so
      at most R after the original, and that copy is readable for another R.

    So a claim is needed for 2 × the longest retention of a topic services consume (the
    dead-letter topic is read by operators, not consumers). A claim pruned earlier would let a
    duplicate apply twice. (A replay of a replay could go further; replay each letter once.)"""
    longest = max(spec.retention_ms for spec in specs if spec.name != DEAD_LETTERS.name)
    return 2 * timedelta(milliseconds=longest)


@dataclass(frozen=True)
class Retention:
    outbox_keep: timedelta
    processed_events_keep: timedelta
    batch_rows: int = 1000


OnPruned = Callable[[str, int], None]  # table name, rows deleted


class Housekeeping:
    """Prunes one service's outbox and processed_events every `interval_seconds`."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: sa.Table,
        processed_events: sa.Table | None,
        retention: Retention,
        now: Callable[[], datetime],
        interval_seconds: float,
        on_pruned: OnPruned | None = None,
    ) -> None:
        self._engine, self._outbox, self._processed = engine, outbox, processed_events
        self._retention, self._now, self._on_pruned = retention, now, on_pruned
        self._loop = WakeableLoop("housekeeping", self.run_once, interval_seconds)

    @classmethod
    def for_service(
        cls,
        infra: Infrastructure,
        outbox: sa.Table,
        processed_events: sa.Table | None,
        on_pruned: OnPruned | None = None,
    ) -> Housekeeping:
        """Intake keeps no processed_events (its contacts' natural keys make it idempotent).
        Counts what it prunes in the service's `safeguarding_housekeeping_pruned_total{table}`."""
        settings = infra.settings
        if on_pruned is None:
            pruned = infra.metrics.counter(
                "safeguarding_housekeeping_pruned_total",
                "Rows housekeeping deleted, by table (outbox, processed_events).",
                ["table"],
            )

            def on_pruned(table: str, count: int) -> None:
                pruned.labels(table=table).inc(count)

        retention = Retention(
            outbox_keep=timedelta(hours=settings.outbox_keep_hours),
            processed_events_keep=timedelta(days=settings.processed_events_keep_days),
            batch_rows=settings.housekeeping_batch_rows,
        )
        return cls(
            infra.engine, outbox, processed_events, retention, infra.clock.now,
            settings.housekeeping_interval_seconds, on_pruned,
        )  # fmt: skip

    async def run_once(self) -> dict[str, int]:
        """One pass; returns how many rows went from each table."""
        now = self._now()
        outbox = self._outbox
        pruned = {
            OUTBOX: await self._delete_in_batches(
                outbox,
                outbox.c.id,
                # published_at < x is false for NULL: unpublished rows can never match.
                sa.and_(
                    outbox.c.published_at.is_not(None),
                    outbox.c.published_at < now - self._retention.outbox_keep,
                ),
            )
        }
        if self._processed is not None:
            processed = self._processed
            pruned[PROCESSED_EVENTS] = await self._delete_in_batches(
                processed,
                processed.c.event_id,
                processed.c.processed_at < now - self._retention.processed_events_keep,
            )
        for table, count in pruned.items():
            if count and self._on_pruned is not None:
                self._on_pruned(table, count)
        if any(pruned.values()):
            log.info("housekeeping_pruned", **pruned)
        return pruned

    async def _delete_in_batches(
        self, table: sa.Table, key: sa.Column[object], condition: sa.ColumnElement[bool]
    ) -> int:
        total = 0
        while True:
            # DELETE … WHERE key IN (SELECT key … LIMIT n): both SQLite and PostgreSQL take it,
            # and the sub-select walks the index on the condition's column.
            chosen = sa.select(key).where(condition).limit(self._retention.batch_rows)
            async with self._engine.begin() as connection:
                result = await connection.execute(table.delete().where(key.in_(chosen)))
            deleted = result.rowcount or 0
            total += deleted
            if deleted < self._retention.batch_rows:
                return total

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
