"""Offset commits gathered over a short window instead of one broker round trip per record.

FastStream acknowledges each handled record by calling `commit()` on the subscriber's aiokafka
consumer: an OffsetCommit request and its reply for every record, 5-11 % of a consuming service's
CPU in `python -m bench.profile`. Here the acknowledgement notes the record's next offset instead,
and one commit per consumer carries every offset noted in the last `window_seconds`.

What stays true:
- only records whose handling finished (handled, or dead-lettered) are ever committed, and at
  their own offset + 1, never the consumer's position: the record being handled meanwhile is
  past the position already, and committing the position would skip it after a crash;
- a record is never committed before it is handled, so nothing is lost. A crash loses at most the
  window's commits: those records are read again, and every consumer is idempotent (claims by
  event id), as it already must be for a crash between handling and committing;
- on a clean stop the noted offsets are committed before the consumers close (`drain`, from the
  service's shutdown hook, which FastStream runs before it stops the broker), and a record
  finished after that commits at once, as before;
- a partition this consumer no longer owns (a rebalance moved it) is left to its new owner.

A hand-made part: aiokafka's own auto-commit commits the consumer's position on a timer, which
includes records returned but not yet handled (the loss above), and FastStream has no batching of
acknowledgements for single-record subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from faststream import BaseMiddleware
from faststream.message import StreamMessage

from shared.logging import get_logger

log = get_logger(__name__)


class OffsetCommits:
    """Per consumer: the next offset to commit for each partition, sent once per window."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._pending: dict[AIOKafkaConsumer, dict[TopicPartition, int]] = {}
        self._timers: dict[AIOKafkaConsumer, asyncio.Task[None]] = {}
        self._stopping = False
        self.commits_sent = 0  # how many commit requests (tests compare it with records handled)

    async def handled(self, consumer: AIOKafkaConsumer, record: ConsumerRecord[Any, Any]) -> None:
        """The record's handling is over: its offset + 1 may be committed."""
        partition = TopicPartition(record.topic, record.partition)
        if self._stopping or self.window_seconds <= 0:
            # Stopping (or no window configured): commit at once, as FastStream would.
            await self._commit(consumer, {partition: record.offset + 1})
            return
        pending = self._pending.setdefault(consumer, {})
        pending[partition] = max(pending.get(partition, 0), record.offset + 1)
        if consumer not in self._timers:
            self._timers[consumer] = asyncio.create_task(
                self._commit_later(consumer), name="offset_commit_window"
            )

    async def _commit_later(self, consumer: AIOKafkaConsumer) -> None:
        try:
            await asyncio.sleep(self.window_seconds)
        finally:
            self._timers.pop(consumer, None)
        await self._commit(consumer, self._pending.pop(consumer, {}))

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        owned = consumer.assignment()
        offsets = {partition: offset for partition, offset in offsets.items() if partition in owned}
        if not offsets:
            return
        self.commits_sent += 1
        try:
            await consumer.commit(offsets)
        except Exception as error:  # noqa: BLE001 - a failed commit only means records read again
            # Those records are read again after a restart or rebalance, and their claims make
            # the second reading a no-op; the next window's commit (a later offset) covers them.
            log.warning(
                "offset_commit_failed",
                partitions=len(offsets),
                error_type=type(error).__name__,
            )

    async def drain(self) -> None:
        """Commit what is noted, and from now on commit each record at once (a clean stop)."""
        self._stopping = True
        for timer in list(self._timers.values()):
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self._timers.clear()
        pending, self._pending = self._pending, {}
        for consumer, offsets in pending.items():
            await self._commit(consumer, offsets)


class _DeferredCommit:
    """What FastStream's acknowledgement sees as the consumer for one record: `commit()` notes
    that record only, `seek()` (a nack: read it again) goes to the real consumer."""

    def __init__(
        self, commits: OffsetCommits, consumer: AIOKafkaConsumer, record: ConsumerRecord[Any, Any]
    ) -> None:
        self._commits, self._consumer, self._record = commits, consumer, record

    async def commit(self) -> None:
        await self._commits.handled(self._consumer, self._record)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._consumer.seek(partition, offset)


def offset_commit_middleware(commits: OffsetCommits) -> Callable[..., BaseMiddleware]:
    """A broker middleware: each record's acknowledgement goes through `commits`."""

    class OffsetCommitMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            consumer = getattr(msg, "consumer", None)
            record = msg.raw_message
            if isinstance(consumer, AIOKafkaConsumer) and isinstance(record, ConsumerRecord):
                msg.consumer = _DeferredCommit(commits, consumer, record)  # type: ignore[attr-defined]
            return await call_next(msg)

    return OffsetCommitMiddleware
