"""Casework's figures (CaseworkFiguresV1, counts only) every `every_hours`: once a period however
many instances run.

Periods are fixed slices of time counted from the Unix epoch (with 24 hours: each UTC day), so
every instance agrees which period it is in. An instance reports a period unless an instance
reported it already: the check and the report happen under one advisory lock
(shared/job_lock.py), and the report itself, the outbox row with the period in its correlation
id, is the record. An outbox row is kept `outbox_keep_hours` after it is relayed (24 by default,
as long as the default period); with a period longer than that, a second instance could report
a period again after the row is pruned, which the meeting scheduler absorbs (it keeps the newest
figures, services/meeting_scheduler/nasn.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from services.casework.adapters.tables import outbox
from services.casework.handlers import PRODUCER, CaseworkDeps
from services.casework.queries import figures
from shared.events import CaseworkFiguresV1
from shared.job_lock import one_at_a_time
from shared.outbox import enqueue

KEY = "figures"  # the message key of every figures report


def period_start(now: datetime, every_hours: float) -> datetime:
    """The start of the period `now` falls in: periods of `every_hours` from the Unix epoch."""
    seconds = every_hours * 3600
    return datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)


async def publish_figures(deps: CaseworkDeps, target: int, every_hours: float) -> bool:
    """Report the figures of now unless this period's report was made; True if reported."""
    now = deps.clock.now()
    correlation_id = f"figures-{period_start(now, every_hours):%Y%m%d%H%M%S}"
    async with deps.engine.begin() as connection:
        await one_at_a_time(connection, "casework figures")
        reported = await connection.scalar(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(
                outbox.c.topic == deps.tasks_topic,
                outbox.c.message_key == KEY,
                outbox.c.correlation_id == correlation_id,
            )
        )
        if reported:
            return False
        counts = await figures(deps.engine, now, target)
        await enqueue(
            connection, outbox, deps.tasks_topic, KEY,
            CaseworkFiguresV1(
                occurred_at=now, correlation_id=correlation_id, producer=PRODUCER, **counts
            ),
        )  # fmt: skip
    deps.on_commit()
    return True
