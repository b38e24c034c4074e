"""The notifier's clock: one loop that flushes burst batches, fires due escalation steps,
delivers due notifications and, hourly, warns of rota gaps and erases old message texts. Every
timer lives in the database, so a restart picks up exactly where the last process stopped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from services.notifier.adapters.tables import (
    burst_batches,
    escalation_steps,
    notifications,
    operation_reminders,
    rota_warnings,
)
from services.notifier.delivering import Dispatcher, erase_old_messages
from services.notifier.deps import NotifierDeps
from services.notifier.escalating import fire_due_steps
from services.notifier.operations import send_due_operation_reminders
from services.notifier.policy import Target
from services.notifier.raising import announce, flush_bursts, raise_alert
from shared.clock import LONDON
from shared.db import insert_ignoring_duplicates
from shared.events import Urgency
from shared.rota import find_gaps

HOUSEKEEPING_EVERY = timedelta(hours=1)
GAP_END_LOOKAHEAD = timedelta(days=7)


class NotifierClock:
    """`tick` is one pass of the clock. It first asks when the earliest timer is due (one query
    over the four timer tables) and does the passes only if one is due: an idle pass costs that
    query, not four scans. `wake_in`, if given, is told how long until the next timer, so the
    loop running `tick` wakes then rather than at its next poll: a batch closing or a step falling
    due is acted on at once, however slow the poll."""

    def __init__(self, deps: NotifierDeps, wake_in: Callable[[float], None] | None = None) -> None:
        self._deps = deps
        self._wake_in = wake_in
        self._housekept_at: datetime | None = None
        self.dispatcher = Dispatcher(deps)

    async def tick(self) -> None:
        due = await next_due(self._deps)
        now = self._deps.clock.now()
        if due is not None and due <= now:
            await flush_bursts(self._deps)
            await send_due_operation_reminders(self._deps)  # their first steps fire as raised
            await fire_due_steps(self._deps)
            await self.dispatcher.deliver_due()
            # The next timer after now. Anything still due now (sends just started and not yet
            # claimed, sends waiting for a free slot, more steps than one pass takes) is left to
            # the slot-freed loop and the poll: counting it would make this loop spin.
            now = self._deps.clock.now()
            due = await next_due(self._deps, after=now)
        if due is not None and self._wake_in is not None:
            self._wake_in((due - now).total_seconds())
        if self._housekept_at is None or now - self._housekept_at >= HOUSEKEEPING_EVERY:
            await warn_rota_gaps(self._deps)
            await erase_old_messages(self._deps)
            self._housekept_at = now


async def next_due(deps: NotifierDeps, after: datetime | None = None) -> datetime | None:
    """When the clock's earliest timer (later than `after`, if given) is due: a burst batch
    closing, an operation reminder, an escalation step or a (re)send; None if nothing waits. Each
    part reads the front of its (status, time) index."""
    timers = (
        (burst_batches.c.send_at, burst_batches.c.status == "collecting"),
        (operation_reminders.c.due_at, operation_reminders.c.status == "pending"),
        (escalation_steps.c.due_at, escalation_steps.c.status == "pending"),
        (notifications.c.next_attempt_at, notifications.c.status == "pending"),
    )
    parts = [
        sa.select(sa.func.min(when)).where(waiting, *([when > after] if after is not None else []))
        for when, waiting in timers
    ]
    async with deps.engine.connect() as connection:
        row = (
            await connection.execute(sa.select(*(part.scalar_subquery() for part in parts)))
        ).one()
    times = [value for value in row if value is not None]
    return min(times) if times else None


class DrainSends:
    """Background job whose stop lets the sends under way finish (see Dispatcher.drain)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self._dispatcher.drain()


async def warn_rota_gaps(deps: NotifierDeps) -> int:
    """Tell the head of service, once per gap, days before a stretch of the rota has no one."""
    now = deps.clock.now()
    horizon = now + timedelta(days=deps.policy.gap_warning_days)
    # Look a week past the horizon, so a gap starting before it is told with its real end, not
    # cut off where the look-ahead stops (it is warned once: a later check would not correct it).
    gaps = [
        gap for gap in find_gaps(deps.rota, now, horizon + GAP_END_LOOKAHEAD) if gap[0] < horizon
    ]
    warned = 0
    for start, end in gaps:
        async with deps.engine.begin() as connection:
            new = await connection.execute(
                insert_ignoring_duplicates(connection, rota_warnings).values(
                    gap_start=start, warned_at=now
                )
            )
            if not new.rowcount:
                continue
            detail = f"from {start.astimezone(LONDON):%H:%M %a %d %b} to {end.astimezone(LONDON):%H:%M %a %d %b}"
            raised = await raise_alert(
                connection,
                deps,
                kind="rota_gap",
                subject_key=start.isoformat(),
                urgency=Urgency.PRIORITY,
                fields={"detail": detail},
                # The correlation id has the shape of a token (shared/events.py): no "+" or spaces.
                correlation_id=f"rota-gap-{int(start.timestamp())}",
                case_references=(),
                single_step=(Target.HEAD_OF_SERVICE.value,),
            )
        announce(deps, raised)  # after the commit above
        warned += 1
    return warned
