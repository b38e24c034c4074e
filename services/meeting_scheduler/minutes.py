"""Minutes of a meeting: who attended and who sent apologies, and the decisions and actions
recorded per item; open actions carry to the next agenda of the series until marked done.

`Attendance`, `ActionView`, `attendance_for` and `open_actions_before` are what the agenda
documents render (agenda.py, documents.py); the rest is the coordinator's use cases behind the API.

Minutes hold organisations and roles, never names, and short texts the coordinator writes for a
multi-agency room; still, none of their text goes to a log, an event or a metric: only ids and
counts. Every change is recorded with who made it (shared/audit.py) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import (
    meeting_actions,
    meeting_attendance,
    meeting_decisions,
)
from services.meeting_scheduler.calendar import MeetingSeries
from shared.audit import Actor
from shared.clock import LONDON
from shared.logging import get_logger

log = get_logger(__name__)
PRESENT, APOLOGIES = "present", "apologies"
LONGEST_DUE = timedelta(days=366)  # an action due more than a year on is a plan, not an action


@dataclass(frozen=True)
class Attendance:
    invited: tuple[str, ...]  # organisations / roles invited (series.members by default)
    present: tuple[str, ...]
    apologies: tuple[str, ...]


@dataclass(frozen=True)
class ActionView:
    case_reference: str | None  # None: an action for the meeting as a whole
    text: str
    owner: str
    due: date
    raised_at: datetime  # start of the meeting that recorded it
    action_id: str = ""  # what the coordinator marks done (POST /v1/actions/{id}/done)


@dataclass(frozen=True)
class NewAction:
    text: str
    owner: str
    due: date


@dataclass(frozen=True)
class ItemMinutes:
    """What was decided on one item (a case on the agenda, or None for the meeting as a whole)."""

    case_reference: str | None
    decision: str | None
    actions: tuple[NewAction, ...] = ()


@dataclass(frozen=True)
class Decision:
    case_reference: str | None
    text: str


@dataclass(frozen=True)
class ActionRecord:
    action_id: str
    series_id: str
    meeting_starts_at: datetime
    case_reference: str | None
    text: str
    owner: str
    due: date
    done_at: datetime | None
    done_by: str | None


@dataclass(frozen=True)
class Minutes:
    attendance: Attendance
    decisions: tuple[Decision, ...]
    actions: tuple[ActionRecord, ...]


class NotAnItem(LookupError):
    """Minutes name a case that is not an item (new or review) of that meeting."""


class DueOutOfRange(ValueError):
    """An action due before its meeting, or more than a year after it."""


async def attendance_for(
    engine: AsyncEngine, series: MeetingSeries, starts_at: datetime
) -> Attendance:
    """The series' members as invited; present and apologies as the coordinator recorded them
    (both empty until then)."""
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(meeting_attendance)
                .where(_at_meeting(meeting_attendance, series, starts_at))
                .order_by(meeting_attendance.c.ordinal)
            )
        ).all()
    return Attendance(
        invited=series.members,
        present=tuple(row.organisation for row in rows if row.status == PRESENT),
        apologies=tuple(row.organisation for row in rows if row.status == APOLOGIES),
    )


async def open_actions_before(
    engine: AsyncEngine, series: MeetingSeries, starts_at: datetime
) -> list[ActionView]:
    """Actions from the series' earlier meetings still open when this one starts: recorded before
    it and not marked done by then (so a past meeting's agenda shows what it carried in). Ordered
    by due date, then the meeting that raised them, meeting-level before case items, then as
    recorded."""
    table = meeting_actions
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                sa.select(table).where(
                    table.c.meeting_series == series.id,
                    table.c.meeting_starts_at < starts_at,
                    table.c.recorded_at < starts_at,
                    sa.or_(table.c.done_at.is_(None), table.c.done_at > starts_at),
                )
            )
        ).all()
    return [
        ActionView(
            case_reference=row.case_reference, text=row.text, owner=row.owner, due=row.due,
            raised_at=row.meeting_starts_at, action_id=row.action_id,
        )
        for row in sorted(rows, key=_action_order)
    ]  # fmt: skip


async def minutes_of(engine: AsyncEngine, series: MeetingSeries, starts_at: datetime) -> Minutes:
    """Everything recorded at one meeting: attendance, decisions and the actions it raised."""
    async with engine.connect() as connection:
        decisions = (
            await connection.execute(
                sa.select(meeting_decisions)
                .where(_at_meeting(meeting_decisions, series, starts_at))
                .order_by(meeting_decisions.c.recorded_at, meeting_decisions.c.ordinal)
            )
        ).all()
        actions = (
            await connection.execute(
                sa.select(meeting_actions).where(_at_meeting(meeting_actions, series, starts_at))
            )
        ).all()
    return Minutes(
        attendance=await attendance_for(engine, series, starts_at),
        decisions=tuple(Decision(row.case_reference, row.text) for row in decisions),
        actions=tuple(_record(row) for row in sorted(actions, key=_action_order)),
    )


async def record_attendance(
    engine: AsyncEngine,
    series: MeetingSeries,
    starts_at: datetime,
    present: Sequence[str],
    apologies: Sequence[str],
    actor: Actor,
) -> Attendance:
    """Replace the meeting's register (apologies often arrive before the meeting, so any meeting
    of the series may be recorded). The caller ensures no organisation is listed twice."""
    listed = [(PRESENT, name) for name in present] + [(APOLOGIES, name) for name in apologies]
    async with engine.begin() as connection:
        await connection.execute(
            meeting_attendance.delete().where(_at_meeting(meeting_attendance, series, starts_at))
        )
        if listed:
            await connection.execute(
                meeting_attendance.insert(),
                [
                    {"meeting_series": series.id, "meeting_starts_at": starts_at,
                     "organisation": name, "status": status, "ordinal": number,
                     "recorded_by": actor.person_id, "recorded_at": actor.at}
                    for number, (status, name) in enumerate(listed)
                ],
            )  # fmt: skip
        await actor.record(
            connection, "minutes.attendance", _meeting(series, starts_at),
            f"{len(present)} present, {len(apologies)} apologies",
        )  # fmt: skip
    log.info("attendance_recorded", series_id=series.id, present=len(present),
             apologies=len(apologies))  # fmt: skip
    return await attendance_for(engine, series, starts_at)


def due_in_range(meeting_day: date, due: date) -> bool:
    return meeting_day <= due <= meeting_day + LONGEST_DUE


async def record_minutes(
    engine: AsyncEngine,
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[ItemMinutes],
    on_agenda: frozenset[str],
    actor: Actor,
) -> Minutes:
    """Add decisions and actions to a meeting's minutes (added, never rewritten, like a minute
    book). `on_agenda`: the case references that were items of the meeting, new or review."""
    meeting_day = starts_at.astimezone(LONDON).date()
    for item in items:
        if item.case_reference is not None and item.case_reference not in on_agenda:
            raise NotAnItem()
        if not all(due_in_range(meeting_day, action.due) for action in item.actions):
            raise DueOutOfRange()
    decisions: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    meeting = {"meeting_series": series.id, "meeting_starts_at": starts_at,
               "recorded_by": actor.person_id, "recorded_at": actor.at}  # fmt: skip
    for item in items:
        if item.decision is not None:
            decisions.append({**meeting, "decision_id": str(uuid.uuid4()), "ordinal": len(decisions),
                              "case_reference": item.case_reference, "text": item.decision})  # fmt: skip
        for action in item.actions:
            actions.append({**meeting, "action_id": str(uuid.uuid4()), "ordinal": len(actions),
                            "case_reference": item.case_reference, "text": action.text,
                            "owner": action.owner, "due": action.due})  # fmt: skip
    async with engine.begin() as connection:
        if decisions:
            await connection.execute(meeting_decisions.insert(), decisions)
        if actions:
            await connection.execute(meeting_actions.insert(), actions)
        await actor.record(
            connection, "minutes.record", _meeting(series, starts_at),
            f"{len(decisions)} decisions, {len(actions)} actions",
        )  # fmt: skip
    log.info("minutes_recorded", series_id=series.id, decisions=len(decisions),
             actions=len(actions))  # fmt: skip
    return await minutes_of(engine, series, starts_at)


async def mark_done(engine: AsyncEngine, action_id: str, actor: Actor) -> ActionRecord | None:
    """Close an action: it no longer carries to later agendas. Marking it again changes nothing
    (the first time is kept). None: no such action."""
    async with engine.begin() as connection:
        closed = await connection.execute(
            meeting_actions.update()
            .where(meeting_actions.c.action_id == action_id, meeting_actions.c.done_at.is_(None))
            .values(done_at=actor.at, done_by=actor.person_id)
        )
        if closed.rowcount:
            await actor.record(connection, "minutes.action_done", action_id)
        row = (
            await connection.execute(
                sa.select(meeting_actions).where(meeting_actions.c.action_id == action_id)
            )
        ).first()
    if closed.rowcount:
        log.info("action_done", action_id=action_id)
    return _record(row) if row is not None else None


def _record(row: sa.Row[Any]) -> ActionRecord:
    return ActionRecord(
        action_id=row.action_id, series_id=row.meeting_series,
        meeting_starts_at=row.meeting_starts_at, case_reference=row.case_reference,
        text=row.text, owner=row.owner, due=row.due, done_at=row.done_at, done_by=row.done_by,
    )  # fmt: skip


def _action_order(row: sa.Row[Any]) -> tuple[date, datetime, str, datetime, int]:
    return (row.due, row.meeting_starts_at, row.case_reference or "", row.recorded_at,
            row.ordinal)  # fmt: skip


def _at_meeting(
    table: sa.Table, series: MeetingSeries, starts_at: datetime
) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.meeting_series == series.id, table.c.meeting_starts_at == starts_at)


def _meeting(series: MeetingSeries, starts_at: datetime) -> str:
    return f"{series.id} {starts_at.isoformat()}"
