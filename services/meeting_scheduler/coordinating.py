"""The coordinator's hand on an agenda: reorder, defer an item to the next meeting, withdraw it
with a reason, add any other business. Every change makes the next publication a revision, and
is recorded with who made it (shared/audit.py) in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import agenda_items, manual_items, staff_actions
from services.meeting_scheduler.calendar import MeetingSeries
from shared.audit import Actor
from shared.logging import get_logger

log = get_logger(__name__)
DEFER = "agenda.defer"
WITHDRAW = "agenda.withdraw"


class NotOnAgenda(LookupError):
    """The case is not a new item of that meeting (reviews follow their case, not a meeting)."""


async def reorder(
    engine: AsyncEngine,
    series: MeetingSeries,
    starts_at: datetime,
    references: list[str],
    actor: Actor | None = None,
) -> None:
    async with engine.begin() as connection:
        if actor:
            await actor.record(
                connection, "agenda.reorder", _meeting(series, starts_at), ",".join(references)
            )
        for position, reference in enumerate(references, start=1):
            moved = await connection.execute(
                agenda_items.update()
                .where(_item(series, starts_at, reference))
                .values(position=position)
            )
            if not moved.rowcount:
                raise NotOnAgenda(reference)


async def defer(
    engine: AsyncEngine,
    series: MeetingSeries,
    starts_at: datetime,
    reference: str,
    actor: Actor | None = None,
) -> datetime:
    later = [start for start in series.occurrences_after(starts_at) if start > starts_at]
    if not later:
        raise NotOnAgenda(reference)
    async with engine.begin() as connection:
        moved = await connection.execute(
            agenda_items.update()
            .where(_item(series, starts_at, reference))
            .values(meeting_starts_at=later[0], position=None, late=False)
        )
        if not moved.rowcount:
            raise NotOnAgenda(reference)
        if actor:
            await actor.record(
                connection,
                DEFER,
                reference,
                f"{_meeting(series, starts_at)} to {later[0]}",  # read back by `deferrals`
            )
    log.info("agenda_item_deferred", case_reference=reference, to=later[0].isoformat())
    return later[0]


async def withdraw(
    engine: AsyncEngine,
    series: MeetingSeries,
    starts_at: datetime,
    reference: str,
    reason: str,
    actor: Actor | None = None,
) -> None:
    async with engine.begin() as connection:
        gone = await connection.execute(
            agenda_items.update()
            .where(_item(series, starts_at, reference))
            .values(withdrawn_reason=reason)
        )
        if not gone.rowcount:
            raise NotOnAgenda(reference)
        if actor:
            await actor.record(connection, WITHDRAW, reference, reason)
    log.info("agenda_item_withdrawn", case_reference=reference)


async def add_other_business(
    engine: AsyncEngine,
    series: MeetingSeries,
    starts_at: datetime,
    text: str,
    added_by: str,
    now: datetime,
    actor: Actor | None = None,
) -> None:
    async with engine.begin() as connection:
        if actor:
            await actor.record(
                connection, "agenda.other_business", _meeting(series, starts_at), text
            )
        await connection.execute(
            manual_items.insert().values(
                item_id=str(uuid.uuid4()), meeting_series=series.id, meeting_starts_at=starts_at,
                text=text, added_by=added_by, added_at=now,
            )
        )  # fmt: skip


@dataclass(frozen=True)
class Deferral:
    """An item the coordinator moved from one meeting to the series' next (from the audit record:
    the item's row keeps only the meeting it is on now)."""

    case_reference: str
    series_id: str
    from_starts_at: datetime
    to_starts_at: datetime
    at: datetime
    by: str


@dataclass(frozen=True)
class Withdrawal:
    case_reference: str
    at: datetime
    by: str


async def deferrals(
    engine: AsyncEngine, *, case_reference: str | None = None, series_id: str | None = None
) -> list[Deferral]:
    """Deferrals recorded for a case, or within a series, oldest first."""
    query = sa.select(staff_actions).where(staff_actions.c.action == DEFER)
    if case_reference is not None:
        query = query.where(staff_actions.c.subject == case_reference)
    if series_id is not None:
        query = query.where(staff_actions.c.detail.startswith(f"{series_id} ", autoescape=True))
    async with engine.connect() as connection:
        rows = (await connection.execute(query.order_by(staff_actions.c.id))).all()
    found = []
    for row in rows:
        # The detail reads "<series id> <from, ISO 8601> to <to>", as `defer` writes it.
        head, _, to = (row.detail or "").partition(" to ")
        series, _, since = head.rpartition(" ")
        try:
            moved = (datetime.fromisoformat(since), datetime.fromisoformat(to))
        except ValueError:
            continue  # not written by `defer`: nothing to show rather than a wrong date
        if series_id is None or series == series_id:
            found.append(Deferral(row.subject, series, *moved, row.at, row.person_id))
    return found


async def withdrawals(engine: AsyncEngine, case_references: list[str]) -> dict[str, Withdrawal]:
    """Who withdrew each case's item, and when (a case enters a series once, so one each; an item
    withdrawn by the service itself, for a child, has no record)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(staff_actions)
            .where(
                staff_actions.c.action == WITHDRAW,
                staff_actions.c.subject.in_(case_references),
            )
            .order_by(staff_actions.c.id)
        )
        return {row.subject: Withdrawal(row.subject, row.at, row.person_id) for row in rows}


def _meeting(series: MeetingSeries, starts_at: datetime) -> str:
    return f"{series.id} {starts_at.isoformat()}"


def _item(series: MeetingSeries, starts_at: datetime, reference: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        agenda_items.c.meeting_series == series.id,
        agenda_items.c.meeting_starts_at == starts_at,
        agenda_items.c.case_reference == reference,
        agenda_items.c.withdrawn_reason.is_(None),
    )
