"""Meeting scheduler use cases: put a referral on the right meeting; read an agenda."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import agenda_items, outbox, processed_events
from services.meeting_scheduler.agenda import AgendaItem
from services.meeting_scheduler.calendar import MeetingCalendar, place_item
from shared.clock import Clock
from shared.db import claim_event, insert_ignoring_duplicates
from shared.events import AgendaItemAddedV1, Pathway, ReferralOpenedV1, Urgency
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)
PRODUCER = "meeting_scheduler"


@dataclass(frozen=True)
class SchedulerDeps:
    engine: AsyncEngine
    calendar: MeetingCalendar
    clock: Clock
    agenda_topic: str
    on_commit: Callable[[], None]


async def add_to_agenda(referral: ReferralOpenedV1, deps: SchedulerDeps) -> bool:
    """Adult referrals go to the case panel; a child's case goes to children's services instead."""
    if referral.pathway is Pathway.CHILD:
        log.info("agenda_skipped_child_pathway", case_reference=referral.case_reference)
        return False
    now = deps.clock.now()
    series = deps.calendar.case_panel()
    placement = place_item(series, referral.occurred_at, referral.urgency is Urgency.IMMEDIATE)
    if placement is None:
        raise RuntimeError(f"series {series.id} has no upcoming meeting")
    added = False
    async with deps.engine.begin() as connection:
        if not await claim_event(connection, processed_events, str(referral.event_id), now):
            return False
        result = await connection.execute(
            insert_ignoring_duplicates(connection, agenda_items).values(
                item_id=str(uuid.uuid4()),
                case_reference=referral.case_reference,
                meeting_series=series.id,
                meeting_starts_at=placement.starts_at,
                district=referral.district.value,
                exploitation_types=",".join(item.value for item in referral.exploitation_types),
                urgency=referral.urgency.value,
                open_needs=",".join(need.value for need in referral.support_needs),
                late=placement.late,
                added_at=now,
            )
        )
        if result.rowcount:
            added = True
            await enqueue(
                connection,
                outbox,
                deps.agenda_topic,
                referral.case_reference,
                AgendaItemAddedV1(
                    occurred_at=now,
                    correlation_id=referral.correlation_id,
                    causation_id=str(referral.event_id),
                    producer=PRODUCER,
                    case_reference=referral.case_reference,
                    meeting_series=series.id,
                    meeting_starts_at=placement.starts_at,
                    late=placement.late,
                ),
            )
    if added:
        deps.on_commit()
        log.info("agenda_item_added", case_reference=referral.case_reference,
                 meeting_starts_at=placement.starts_at.isoformat(), late=placement.late)  # fmt: skip
    return added


async def items_for(engine: AsyncEngine, series_id: str, starts_at: datetime) -> list[AgendaItem]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(agenda_items).where(
                agenda_items.c.meeting_series == series_id,
                agenda_items.c.meeting_starts_at == starts_at,
            )
        )
        return [
            AgendaItem(
                case_reference=row.case_reference,
                district=row.district,
                exploitation_types=tuple(filter(None, row.exploitation_types.split(","))),
                urgency=row.urgency,
                open_needs=tuple(filter(None, row.open_needs.split(","))),
                late=row.late,
                added_at=row.added_at,
            )
            for row in rows
        ]
