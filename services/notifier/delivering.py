"""Delivering notifications: per-channel retries with backoff, fallback to the person's next
channel, and a ledger of every attempt. A notification is claimed with a lease before it is sent,
so two dispatchers (or one restarted after a crash) do not both send it. Duplicates are left
possible (delivery is at least once): a process dying after the provider accepted a message and
before the commit; a provider that took a message but answered after the timeout (the attempt is
recorded as failed and retried); and, with several processes, a send that outlasts its lease."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection

from services.notifier.adapters.tables import (
    alert_attachments,
    alerts,
    delivery_attempts,
    notifications,
    outbox,
)
from services.notifier.deps import PRODUCER, NotifierDeps
from services.notifier.domain import fallback_channel, retry_delay_seconds
from services.notifier.escalating import AlertFacts, notice_for_person, notification_values
from services.notifier.ports import Attachment
from shared.events import AlertDeliveredV1, AlertDeliveryFailedV1
from shared.logging import get_logger
from shared.outbox import enqueue, prune_published
from shared.rota import ChannelKind
from shared.sqlite_driver import on_database_thread
from shared.tracing import capture_context

log = get_logger(__name__)

DELIVERY_CONCURRENCY = 8
# The two statements every send runs, built once (a statement built for each send paid its
# construction and its cache key again: about 0.3 ms of CPU each, shared/db.py). Parameter names
# differ from the columns', which SQLAlchemy keeps for its own SET and VALUES parameters.
RECORD_ATTEMPT = delivery_attempts.insert()
MARK_DELIVERED = (
    notifications.update()
    .where(notifications.c.notification_id == sa.bindparam("delivered_id"))
    .values(
        status="delivered",
        attempts=sa.bindparam("attempts_made"),
        delivered_at=sa.bindparam("finished_at", type_=notifications.c.delivered_at.type),
    )
)
DRAIN_SECONDS = 8.0  # within the broker's 10 s graceful stop


class Dispatcher:
    """Sends due notifications, up to DELIVERY_CONCURRENCY at once, each as its own task that
    outlives the clock tick which started it.

    Providers answer in tens of milliseconds (an SMTP exchange nearer a hundred). Sending one at a
    time capped a raid at about ten people a second; sending a batch and waiting for all of it made
    a new SMS wait behind the slowest email. Here a finished send frees its slot and, when due
    notifications were left waiting for one (or the send failed, and may have made a fallback),
    wakes `wake_on_free_slot`, so the next due notification goes at once. A pass claims the
    notifications it starts with a lease first, all in one transaction, so a notification is
    never sent by two tasks (or two processes)."""

    def __init__(self, deps: NotifierDeps) -> None:
        self._deps = deps
        self._in_flight: dict[str, asyncio.Task[int]] = {}
        self._claiming = asyncio.Lock()
        self._closing = False
        # Whether the last pass left due notifications for want of a slot (or may have: it
        # failed part-way). Only then does a finished send look again at once: with none left, a
        # freed slot has nothing to start (new work comes with its own wake: a raised alert, the
        # clock's steps and timers). Known for this process only: with several notifiers on one
        # PostgreSQL database another's alerts may be waiting for any slot, so there a finished
        # send always looks, as it did before (`_solo`).
        self._backlog = False
        self._solo = deps.engine.dialect.name == "sqlite"  # one instance (shared/instance_lock.py)
        # What a finished send wakes. The whole clock by default; the composition root sets a
        # loop that runs only deliver_due (services/notifier/main.py): a freed slot needs no
        # rota reload, burst flush or step scan, and those cost most of a tick's CPU.
        self.wake_on_free_slot: Callable[[], None] = deps.wake_scheduler

    async def deliver_due(self) -> int:
        """Start sends for as many due notifications as there are free slots; returns how many."""
        # One pass at a time claims: the clock's pass and the slot-freed loop (services/notifier/
        # main.py) may both be here, and the cap is counted before the claim, not after it.
        async with self._claiming:
            if self._closing:
                return 0
            if len(self._in_flight) >= DELIVERY_CONCURRENCY:
                self._backlog = True  # asked to send with every slot taken: look when one frees
                return 0
            # Until this pass has claimed, assume work waits: a query or claim that fails leaves
            # its notifications due, and the next freed slot should look for them at once.
            self._backlog = True
            now = self._deps.clock.now()
            async with self._deps.engine.connect() as connection:
                due = (
                    (
                        await connection.execute(
                            sa.select(notifications.c.notification_id)
                            .where(
                                notifications.c.status == "pending",
                                notifications.c.next_attempt_at <= now,
                            )
                            .order_by(notifications.c.created_at)
                            .limit(DELIVERY_CONCURRENCY + len(self._in_flight))
                        )
                    )
                    .scalars()
                    .all()
                )
            # A drain that began during the query has already set `_closing`: a send started now
            # could be cut off mid-way at exit, sent but not recorded, and sent again by another
            # process when its lease ran out: a duplicate message from a clean stop. (A drain
            # that begins during the claim below waits for this pass, then for its sends.)
            if self._closing:
                return 0
            free = DELIVERY_CONCURRENCY - len(self._in_flight)
            waiting = [n for n in due if n not in self._in_flight]
            wanted = waiting[:free]
            if not wanted:
                self._backlog = False
                return 0
            claimed = await _claim(self._deps, wanted, self._deps.clock.now())
            self._backlog = len(waiting) > free
            for one in claimed:
                notification_id = str(one.row.notification_id)
                task = asyncio.create_task(_send(self._deps, one))
                self._in_flight[notification_id] = task
                task.add_done_callback(functools.partial(self._finished, notification_id))
        if len(claimed) < len(wanted):
            # Another process leased some meanwhile (or they were acknowledged): their slots are
            # free, so look again at once rather than at the clock's next poll.
            self.wake_on_free_slot()
        return len(claimed)

    def _finished(self, notification_id: str, task: asyncio.Task[int]) -> None:
        self._in_flight.pop(notification_id, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            # The notification stays pending; its lease runs out and it is tried again.
            log.warning("send_task_failed", notification_id=notification_id,
                        error_type=type(error).__name__)  # fmt: skip
        # A failed send may have made its fallback notification, due now: look for it at once.
        failed = task.cancelled() or task.exception() is not None or not task.result()
        if not self._closing and (self._backlog or failed or not self._solo):
            self.wake_on_free_slot()

    async def drain(self) -> None:
        """On shutdown: start nothing new and let sends under way finish and be recorded, so a
        clean stop does not leave a message sent but unrecorded (which would be sent again)."""
        self._closing = True
        try:
            async with asyncio.timeout(DRAIN_SECONDS):  # the pass's claim and the sends together
                async with self._claiming:  # a pass claiming now starts its sends: wait for those
                    pass
                if self._in_flight:
                    await asyncio.wait(list(self._in_flight.values()))
        except TimeoutError:
            # Those still under way are cut off at exit; each keeps its lease, and is sent again
            # (perhaps a second time) once the lease runs out.
            log.warning("drain_timed_out", in_flight=len(self._in_flight))


@dataclass(frozen=True)
class _Claimed:
    """A notification whose lease this process now holds, with what its send needs."""

    row: sa.Row[Any]
    alert: sa.Row[Any]
    files: tuple[Attachment, ...]


async def _claim(deps: NotifierDeps, notification_ids: list[str], now: datetime) -> list[_Claimed]:
    """Takes the lease of those still due, in one transaction for the lot: an alert's first step
    makes its notifications together (one per person and channel), and a transaction each cost a
    commit and two statements more per notification. The update's own condition is what makes a
    claim exclusive: a notification another process claimed meanwhile no longer matches it."""
    due = (
        notifications.c.notification_id.in_(notification_ids),
        notifications.c.status == "pending",
        notifications.c.next_attempt_at <= now,
    )
    # On PostgreSQL the rows are locked first, in one order, skipping any another transaction
    # holds (an acknowledgement cancelling them, another process's claim): several rows locked
    # by one update in scan order could deadlock with an acknowledgement locking the same alert's
    # rows in another order. A skipped row is left to that transaction. (SQLite has no row locks
    # and no FOR UPDATE; its writers take turns.)
    locked = (
        sa.select(notifications.c.notification_id)
        .where(*due)
        .order_by(notifications.c.notification_id)
        .with_for_update(skip_locked=True)
    )
    async with deps.engine.begin() as connection:
        # The update returns the rows it claimed (one statement, not an update and a select).
        rows = (
            await connection.execute(
                notifications.update()
                .where(notifications.c.notification_id.in_(locked), *due[1:])
                .values(next_attempt_at=now + deps.lease)
                .returning(*notifications.c)
            )
        ).all()
        if not rows:
            return []
        # Their alerts, and whether each has files: most have none, so no query for them.
        alert_of = {
            alert.alert_id: alert
            for alert in await connection.execute(
                sa.select(
                    alerts,
                    sa.exists()
                    .where(alert_attachments.c.alert_id == alerts.c.alert_id)
                    .label("has_files"),
                ).where(alerts.c.alert_id.in_({row.alert_id for row in rows}))
            )
        }
        files_of: dict[str, list[Attachment]] = {}
        with_files = [alert_id for alert_id, alert in alert_of.items() if alert.has_files]
        if with_files:
            for file in await connection.execute(
                sa.select(alert_attachments).where(alert_attachments.c.alert_id.in_(with_files))
            ):
                files_of.setdefault(file.alert_id, []).append(
                    Attachment(file.filename, file.content_type, file.content)
                )
    order = {notification_id: index for index, notification_id in enumerate(notification_ids)}
    return [
        _Claimed(row, alert_of[row.alert_id], tuple(files_of.get(row.alert_id, ())))
        for row in sorted(rows, key=lambda row: order[row.notification_id])
    ]


async def _send(deps: NotifierDeps, claimed: _Claimed) -> int:
    """Sends one claimed notification and records the attempt (delivered, or what comes next)."""
    row, alert = claimed.row, claimed.alert
    notification_id = str(row.notification_id)
    person = next((p for p in deps.rota.people if p.id == row.person_id), None)
    url = person.channels.get(ChannelKind(row.channel)) if person else None
    started = time.monotonic()
    accepted = False
    # A span in the alert's trace (so the contact's trace reaches the SMS): the channel kind and
    # attempt only, never the person, the address or the message.
    with deps.tracing.span(
        f"notify {row.channel}",
        row.trace_context,
        {"safeguarding.channel": str(row.channel), "safeguarding.attempt": row.attempts + 1},
        kind=SpanKind.CLIENT,
    ) as span:
        if url is not None:
            try:
                accepted = await deps.sender.send(
                    url,
                    row.title or "",
                    row.body or "",
                    claimed.files,
                )
            except Exception as error:  # noqa: BLE001 - any provider failure is retried
                log.warning(
                    "send_raised", notification_id=notification_id, error_type=type(error).__name__
                )
        span.set_attribute("safeguarding.delivered", accepted)
        sent = capture_context()
    seconds = time.monotonic() - started
    latency_ms = round(seconds * 1000)
    attempts = row.attempts + 1
    finished = deps.clock.now()
    references = tuple(filter(None, [alert.case_reference]))
    after: AfterFailure | None = None
    async with deps.engine.begin() as connection:
        await connection.execute(
            RECORD_ATTEMPT,
            {
                "notification_id": notification_id,
                "channel": row.channel,
                "attempt": attempts,
                "outcome": "delivered" if accepted else "failed",
                "latency_ms": latency_ms,
                "attempted_at": finished,
            },
        )
        if accepted:
            await connection.execute(
                MARK_DELIVERED,
                {
                    "delivered_id": notification_id,
                    "attempts_made": attempts,
                    "finished_at": finished,
                },
            )
            await enqueue(
                connection, outbox, deps.alerts_topic, alert.subject_key,
                AlertDeliveredV1(
                    occurred_at=finished, correlation_id=alert.correlation_id, producer=PRODUCER,
                    alert_id=alert.alert_id, case_references=references, person_id=row.person_id,
                    channel=row.channel, attempts=attempts, latency_ms=latency_ms,
                ),
                trace_context=sent,
            )  # fmt: skip
        else:
            after = await _after_failure(connection, deps, row, alert, attempts, finished)
    # Counted once the attempt is recorded: a send whose record rolled back is sent again.
    deps.metrics.attempted(row.channel, accepted, seconds)
    if after == "retry":
        deps.metrics.retried(row.channel)
    elif after == "fallback":
        deps.metrics.fell_back(row.channel)
    deps.wake_outbox()
    log.info(
        "notification_attempted", notification_id=notification_id, alert_id=row.alert_id,
        channel=row.channel, attempt=attempts, delivered=accepted, latency_ms=latency_ms,
    )  # fmt: skip
    return int(accepted)


AfterFailure = Literal["retry", "fallback", "cancelled"]


async def _after_failure(
    connection: AsyncConnection,
    deps: NotifierDeps,
    row: sa.Row[Any],
    alert: sa.Row[Any],
    attempts: int,
    now: datetime,
) -> AfterFailure:
    """Retry with backoff; after max attempts, hand over to the person's next channel kind if
    there is one. The last channel left keeps retrying (capped backoff): an alert is never dropped
    while it is open, and escalation runs alongside on its own schedule."""
    current = await connection.scalar(
        sa.select(notifications.c.status).where(
            notifications.c.notification_id == row.notification_id
        )
    )
    if current != "pending":
        # Cancelled while the send was under way (the alert was acknowledged): no retry, and no
        # fallback channel, which would be a message sent after the acknowledgement.
        await connection.execute(
            notifications.update()
            .where(notifications.c.notification_id == row.notification_id)
            .values(attempts=attempts)
        )
        return "cancelled"
    person = next((p for p in deps.rota.people if p.id == row.person_id), None)
    fallback = None
    if attempts >= deps.policy.max_attempts_per_channel and person is not None:
        used = set(
            (
                await connection.execute(
                    sa.select(notifications.c.channel).where(
                        notifications.c.alert_id == row.alert_id,
                        notifications.c.step == row.step,
                        notifications.c.person_id == row.person_id,
                    )
                )
            )
            .scalars()
            .all()
        )
        fallback = fallback_channel(person, used)
    if person is None or fallback is None:
        await connection.execute(
            notifications.update()
            .where(notifications.c.notification_id == row.notification_id)
            .values(
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=retry_delay_seconds(attempts)),
            )
        )
        return "retry"
    await connection.execute(
        notifications.update()
        .where(notifications.c.notification_id == row.notification_id)
        .values(status="failed", attempts=attempts)
    )
    # The same notice on another channel: a reminder stays "Reminder 2 of 3" on the fallback too.
    notice = await notice_for_person(connection, deps, str(row.alert_id), row.step, person.id)
    await connection.execute(
        notifications.insert().values(
            **notification_values(deps, AlertFacts.of(alert), row.step, person, fallback, notice)
        )
    )
    await enqueue(
        connection, outbox, deps.alerts_topic, str(alert.subject_key),
        AlertDeliveryFailedV1(
            occurred_at=now, correlation_id=str(alert.correlation_id), producer=PRODUCER,
            alert_id=str(row.alert_id), person_id=str(row.person_id), channel=str(row.channel),
            attempts=attempts, fallback_channel=fallback.value,
        ),
        trace_context=row.trace_context,
    )  # fmt: skip
    log.warning(
        "channel_failed_falling_back",
        alert_id=row.alert_id,
        channel=row.channel,
        fallback=fallback.value,
    )
    return "fallback"


@on_database_thread  # whole-table updates: on SQLite they must not hold the loop
async def erase_old_messages(deps: NotifierDeps) -> int:
    """The ledger keeps channel, attempts, outcome and latency; after retention go the message
    texts, the fields they were rendered from (case, district, operation), agenda attachments and
    relayed outbox rows. An alert's escalation ends within hours, long before this."""
    cutoff = deps.clock.now() - timedelta(days=deps.policy.message_retention_days)
    old_alerts = sa.select(alerts.c.alert_id).where(alerts.c.raised_at < cutoff)
    async with deps.engine.begin() as connection:
        result = await connection.execute(
            notifications.update()
            .where(notifications.c.created_at < cutoff, notifications.c.body.is_not(None))
            .values(title=None, body=None)
        )
        await connection.execute(
            alerts.update()
            .where(alerts.c.raised_at < cutoff, alerts.c.fields != ERASED_FIELDS)
            .values(fields=ERASED_FIELDS)
        )
        await connection.execute(
            alert_attachments.delete().where(alert_attachments.c.alert_id.in_(old_alerts))
        )
        await prune_published(connection, outbox, cutoff)
    return result.rowcount or 0


ERASED_FIELDS = "{}"
