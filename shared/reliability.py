"""Bounded retries and a dead-letter topic for every subscriber, mapped in one place.

Every subscriber runs with `AckPolicy.NACK_ON_ERROR` (shared/app.py). This middleware wraps the
decode + handler call so that:
- a permanent failure (bad JSON, schema violation, `PermanentError`) is dead-lettered at once;
- the database or Kafka being unreachable, locked or slow is retried until it is back (capped
  backoff, no limit): the record is not at fault and every record behind it would fail the same way,
  so it waits (lag grows, the log says why) rather than being shelved as a dead letter;
- any other failure is retried a bounded number of times with backoff, then dead-lettered;
- after a dead letter is written the record is acknowledged, so the partition moves on;
- if the dead letter itself cannot be written, the error propagates, the record is nacked and read
  again: nothing is ever acknowledged that was neither processed nor dead-lettered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc
import structlog
from aiokafka.errors import KafkaError
from faststream import BaseMiddleware
from faststream.message import StreamMessage
from pydantic import ValidationError

from shared.clock import Clock
from shared.errors import PermanentError
from shared.events import DeadLetterV1, trusted_correlation_id
from shared.logging import get_logger
from shared.redaction import safe_reason
from shared.replay import Origin, ReplayCheck, ReplayRefused, handling_as

log = get_logger(__name__)

PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    PermanentError,
    ValidationError,
    json.JSONDecodeError,
    UnicodeDecodeError,
)

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,  # SQLite "database is locked", PostgreSQL restarting
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection in time
    KafkaError,
    OSError,  # connection refused or reset
    TimeoutError,
)
INFRASTRUCTURE_BACKOFF_CAP_SECONDS = 30.0


def waiting_on_infrastructure(error: BaseException) -> bool:
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, INFRASTRUCTURE_ERRORS)


DeadLetterSink = Callable[[DeadLetterV1], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    backoff_seconds: float = 0.5

    def delay(self, attempt: int) -> float:
        return float(self.backoff_seconds * (2 ** (attempt - 1)))


def dead_letter_middleware(
    *,
    consumer: str,
    policy: RetryPolicy,
    sink: DeadLetterSink,
    clock: Clock,
    counted: Callable[[DeadLetterV1], None] = lambda _: None,
    replays: ReplayCheck | None = None,
) -> Callable[..., BaseMiddleware]:
    """A broker middleware factory bound to one service's dead-letter sink. `counted` is told
    of each dead letter once it is written (the metrics: a write that fails is retried, and must
    not be counted twice). `replays`: how a replayed copy of a dead-lettered record is recognised
    (shared/replay.py); it is handled, and dead-lettered again if need be, as the original."""

    class DeadLetterMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            with structlog.contextvars.bound_contextvars(
                correlation_id=trusted_correlation_id(msg.correlation_id),
                message_id=trusted_correlation_id(msg.message_id),
            ):
                return await _consume_where_from(call_next, msg)

    async def _consume_where_from(
        call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        origin = Origin.of(msg.raw_message)
        if replays is not None:
            try:
                vouched = replays.origin(msg.raw_message)
            except ReplayRefused as refused:
                await _dead_letter(msg, refused, 1, origin)
                return None
            if vouched is None:
                log.info("replay_for_another_consumer_skipped", source_topic=origin.topic)
                return None
            origin = vouched
        with handling_as(origin):
            return await _consume_with_retries(call_next, msg, origin)

    async def _consume_with_retries(
        call_next: Callable[[StreamMessage[Any]], Awaitable[Any]],
        msg: StreamMessage[Any],
        origin: Origin,
    ) -> Any:
        attempt, waits = 0, 0
        while True:
            attempt += 1
            try:
                return await call_next(msg)
            except PERMANENT_ERRORS as error:
                await _dead_letter(msg, error, attempt, origin)
                return None
            except Exception as error:  # noqa: BLE001 - anything not known permanent is retried
                if waiting_on_infrastructure(error):
                    waits += 1
                    attempt -= 1  # not the record's fault: does not count towards dead-lettering
                    delay = min(INFRASTRUCTURE_BACKOFF_CAP_SECONDS, policy.delay(waits))
                    log.warning(
                        "handler_waiting_for_infrastructure",
                        waits=waits,
                        retry_in_seconds=delay,
                        error_type=type(error).__name__,
                        error=safe_reason(error),
                    )
                    await asyncio.sleep(delay)
                    continue
                if attempt >= policy.max_attempts:
                    await _dead_letter(msg, error, attempt, origin)
                    return None
                log.warning(
                    "handler_failed_retrying",
                    attempt=attempt,
                    error_type=type(error).__name__,
                    error=safe_reason(error),
                )
                await asyncio.sleep(policy.delay(attempt))

    async def _dead_letter(
        msg: StreamMessage[Any], error: BaseException, attempts: int, origin: Origin
    ) -> None:
        # A replayed copy that fails again is dead-lettered under the original's place and time,
        # so replaying that letter later reads (and is judged as) the original once more.
        payload: bytes = msg.raw_message.value or b""
        letter = DeadLetterV1(
            occurred_at=clock.now(),
            correlation_id=trusted_correlation_id(msg.correlation_id) or "",
            producer=consumer,
            consumer=consumer,
            source_topic=origin.topic,
            source_partition=origin.partition,
            source_offset=origin.offset,
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            payload_bytes=len(payload),
            error_type=type(error).__name__,
            reason=safe_reason(error),
            attempts=attempts,
            source_timestamp_ms=origin.timestamp_ms,
            source_timestamp_type=origin.timestamp_type,
        )
        await sink(letter)
        counted(letter)
        log.error(
            "record_dead_lettered",
            source_topic=letter.source_topic,
            source_partition=letter.source_partition,
            source_offset=letter.source_offset,
            error_type=letter.error_type,
            reason=letter.reason,
            attempts=attempts,
        )

    return DeadLetterMiddleware
