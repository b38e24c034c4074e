"""Training and awareness sessions for front-line professionals (issue #15 part 5).

A series of its own (`training` in deploy/config/meetings.yaml): no case items, no agenda. Each
session has a time, a topic about training (never a person), the audience organisations (short
names), a materials link and, once it has taken place, the number who attended: a session is
*planned* until its attendance is recorded, then *held*.

The funder's target is "at least `target` sessions in `period_years` from `project_starts`". The
pace needed is a straight line: by a London date `d`, floor(target x elapsed days / period days)
sessions should have been held (`expected_by_now`). When fewer are held the project is behind, and
the head of service is warned (TrainingPaceWarningV1 on the agenda topic; the notifier delivers
it) once per shortfall level: when `expected_by_now` first rises above the sessions held, not
again until it rises further, and afresh after the sessions held have caught up. The level warned
is kept in the database (training_pace_warnings), so a restart does not warn twice."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import (
    outbox,
    training_pace_warnings,
    training_sessions,
)
from services.meeting_scheduler.calendar import TrainingSeries
from shared.audit import Actor
from shared.clock import LONDON, Clock
from shared.db import insert_ignoring_duplicates
from shared.events import TrainingPaceWarningV1
from shared.job_lock import one_at_a_time
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)
PRODUCER = "meeting_scheduler"


@dataclass(frozen=True)
class Pace:
    """Where the project stands against its training target on a day."""

    project_starts: date
    period_ends: date  # the first day after the period
    period_years: int
    target: int
    held: int  # in the period, attendance recorded
    expected_by_now: int

    @property
    def behind(self) -> bool:
        return self.held < self.expected_by_now

    @property
    def shortfall(self) -> int:
        return max(0, self.expected_by_now - self.held)


def period_end(series: TrainingSeries) -> date:
    """The first day after the period (29 February plus whole years: 28 February)."""
    return series.project_starts + relativedelta(years=series.period_years)


def expected_by(series: TrainingSeries, today: date) -> int:
    """Sessions due by `today` on a straight line from none at the start to `target` at the end:
    floor(target x elapsed days / period days), elapsed clamped to the period."""
    period_days = (period_end(series) - series.project_starts).days
    elapsed = min(max((today - series.project_starts).days, 0), period_days)
    return series.target * elapsed // period_days


def pace(series: TrainingSeries, today: date, held: int) -> Pace:
    return Pace(
        project_starts=series.project_starts, period_ends=period_end(series),
        period_years=series.period_years, target=series.target, held=held,
        expected_by_now=expected_by(series, today),
    )  # fmt: skip


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LONDON)


@dataclass(frozen=True)
class TrainingSession:
    session_id: str
    series_id: str
    starts_at: datetime
    topic: str
    audience: tuple[str, ...]
    materials_url: str | None
    attending: int | None
    attendance_recorded_at: datetime | None

    @property
    def held(self) -> bool:
        return self.attending is not None


class NotFound(Exception):
    """No such training session."""


class NotYetStarted(Exception):
    """Attendance follows the session."""


def _session(row: sa.Row[tuple[object, ...]]) -> TrainingSession:
    mapping = row._mapping
    return TrainingSession(
        session_id=mapping["session_id"], series_id=mapping["meeting_series"],
        starts_at=mapping["starts_at"], topic=mapping["topic"],
        audience=tuple(json.loads(mapping["audience"])), materials_url=mapping["materials_url"],
        attending=mapping["attending"], attendance_recorded_at=mapping["attendance_recorded_at"],
    )  # fmt: skip


async def add_session(
    engine: AsyncEngine,
    series: TrainingSeries,
    starts_at: datetime,
    topic: str,
    audience: Sequence[str],
    materials_url: str | None,
    actor: Actor,
) -> TrainingSession:
    session_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        await connection.execute(
            training_sessions.insert().values(
                session_id=session_id, meeting_series=series.id, starts_at=starts_at, topic=topic,
                audience=json.dumps(list(audience), ensure_ascii=False),
                materials_url=materials_url, recorded_by=actor.person_id, recorded_at=actor.at,
            )
        )  # fmt: skip
        # The audit names the session, never its topic or audience.
        await actor.record(connection, "training.add", session_id)
        row = (
            await connection.execute(
                training_sessions.select().where(training_sessions.c.session_id == session_id)
            )
        ).one()
    log.info("training_session_added", meeting_series=series.id)
    return _session(row)


async def record_attendance(
    engine: AsyncEngine, session_id: str, attending: int, now: datetime, actor: Actor
) -> TrainingSession:
    """Record how many attended (again: replaced). Raises NotFound, or NotYetStarted before the
    session's start: attendance is recorded after it."""
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                training_sessions.select().where(training_sessions.c.session_id == session_id)
            )
        ).first()
        if row is None:
            raise NotFound(session_id)
        if row.starts_at > now:
            raise NotYetStarted(session_id)
        await connection.execute(
            training_sessions.update()
            .where(training_sessions.c.session_id == session_id)
            .values(
                attending=attending,
                attendance_recorded_by=actor.person_id,
                attendance_recorded_at=actor.at,
            )
        )
        await actor.record(connection, "training.attendance", session_id, f"{attending} attending")
        row = (
            await connection.execute(
                training_sessions.select().where(training_sessions.c.session_id == session_id)
            )
        ).one()
    log.info("training_attendance_recorded", meeting_series=row.meeting_series)
    return _session(row)


async def list_sessions(engine: AsyncEngine, series: TrainingSeries) -> list[TrainingSession]:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                training_sessions.select()
                .where(training_sessions.c.meeting_series == series.id)
                .order_by(training_sessions.c.starts_at, training_sessions.c.session_id)
            )
        ).all()
    return [_session(row) for row in rows]


def held_in_period(series: TrainingSeries, sessions: Sequence[TrainingSession]) -> int:
    """Sessions held (attendance recorded) that started within the period."""
    start, end = _london_midnight(series.project_starts), _london_midnight(period_end(series))
    return sum(1 for item in sessions if item.held and start <= item.starts_at < end)


async def current_pace(engine: AsyncEngine, series: TrainingSeries, now: datetime) -> Pace:
    sessions = await list_sessions(engine, series)
    return pace(series, now.astimezone(LONDON).date(), held_in_period(series, sessions))


@dataclass(frozen=True)
class PaceWatch:
    """The background check behind the pace warning (run hourly, and woken after attendance)."""

    engine: AsyncEngine
    series: TrainingSeries
    clock: Clock
    agenda_topic: str
    on_commit: Callable[[], None]  # the outbox relay's wake

    async def check(self) -> bool:
        """Warn the head of service if behind at a level not warned yet; forget the level once
        caught up. True if a warning was published."""
        now = self.clock.now()
        key = training_pace_warnings.c.meeting_series == self.series.id
        async with self.engine.begin() as connection:
            # Instances check one at a time, each counting after the last committed: else one
            # counting before an attendance was recorded could warn again at a level another,
            # counting after, had just cleared.
            await one_at_a_time(connection, f"training pace {self.series.id}")
            found = await current_pace(self.engine, self.series, now)
            log.info(
                "training_pace_checked", meeting_series=self.series.id, held=found.held,
                expected_by_now=found.expected_by_now, behind=found.behind,
            )  # fmt: skip
            if not found.behind:
                await connection.execute(training_pace_warnings.delete().where(key))
                return False
            claimed = await connection.execute(
                insert_ignoring_duplicates(connection, training_pace_warnings).values(
                    meeting_series=self.series.id,
                    warned_expected=found.expected_by_now,
                    warned_at=now,
                )
            )
            if not claimed.rowcount:
                # Warned before: again only if the expected count has risen since.
                raised = await connection.execute(
                    training_pace_warnings.update()
                    .where(key, training_pace_warnings.c.warned_expected < found.expected_by_now)
                    .values(warned_expected=found.expected_by_now, warned_at=now)
                )
                if not raised.rowcount:
                    return False
            day = now.astimezone(LONDON).date().isoformat()
            await enqueue(
                connection, outbox, self.agenda_topic, self.series.id,
                TrainingPaceWarningV1(
                    occurred_at=now, correlation_id=f"training-pace-{day}", producer=PRODUCER,
                    meeting_series=self.series.id, held=found.held,
                    expected_by_now=found.expected_by_now, target=found.target,
                    project_starts=found.project_starts, period_ends=found.period_ends,
                ),
            )  # fmt: skip
        log.info(
            "training_pace_warning",
            meeting_series=self.series.id,
            held=found.held,
            expected_by_now=found.expected_by_now,
        )
        self.on_commit()
        return True
