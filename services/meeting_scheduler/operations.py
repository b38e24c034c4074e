"""Police operations announced ahead (#15 part 3): each gets a debrief item on the case panel's
agenda, on the first meeting whose cut-off is after the operation's window ends (as a referral
received then would be placed: calendar.place_item).

The counts are the meeting scheduler's own, from the events it already consumes, matched by the
operation group intake gives both the announcement and its contacts: contacts (referrals opened
under the group), children (the child pathway), NRM consent given and declined (as the police
last reported it), and tasks casework opened for those cases. Only contacts the police met from a
day before the window's start count (an operation name used again months later is another
operation). Counts under 3 read "fewer than 3", as on the NASN agenda (nasn.SMALL_NUMBER).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import (
    case_tasks,
    operation_contacts,
    operation_debriefs,
)
from services.meeting_scheduler.calendar import MeetingCalendar, place_item
from services.meeting_scheduler.layout import Block, Paragraph, Table
from services.meeting_scheduler.nasn import SMALL_NUMBER
from shared.clock import LONDON
from shared.db import insert_ignoring_duplicates
from shared.events import NrmConsent, OperationAnnouncedV1, Pathway, ReferralFacts
from shared.labels import DISTRICTS, label
from shared.logging import get_logger

log = get_logger(__name__)

EARLY_CONTACTS = timedelta(days=1)  # contacts this long before the window's start still count


@dataclass(frozen=True)
class OperationDebrief:
    operation: str
    operation_group: str
    district: str
    starts_at: datetime
    ends_at: datetime
    expected_victims: int
    contacts: int
    children: int
    consent_given: int
    consent_declined: int
    tasks_opened: int


def suppressed(value: int) -> str:
    """A count as the agendas print it: under SMALL_NUMBER (but not none) reads "fewer than 3"."""
    return f"fewer than {SMALL_NUMBER}" if 0 < value < SMALL_NUMBER else str(value)


async def record_operation(
    event: OperationAnnouncedV1, engine: AsyncEngine, calendar: MeetingCalendar
) -> bool:
    """Keep the latest version and the meeting its debrief goes on. False: an older version."""
    series = calendar.case_panel()
    placement = place_item(series, event.ends_at, urgent=False)
    if placement is None:
        raise RuntimeError(f"series {series.id} has no meeting after the operation")
    values = {
        "operation": event.operation,
        "district": event.district.value,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "expected_victims": event.expected_victims,
        "version": event.version,
        "meeting_series": series.id,
        "meeting_starts_at": placement.starts_at,
    }
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert_ignoring_duplicates(connection, operation_debriefs).values(
                operation_group=event.operation_group, **values
            )
        )
        changed = (
            inserted.rowcount
            or (
                await connection.execute(
                    operation_debriefs.update()
                    .where(
                        operation_debriefs.c.operation_group == event.operation_group,
                        operation_debriefs.c.version < event.version,
                    )
                    .values(**values)
                )
            ).rowcount
        )
    if changed:
        log.info(
            "operation_debrief_planned",
            operation_group=event.operation_group,
            version=event.version,
            meeting_starts_at=placement.starts_at.isoformat(),
        )
    return bool(changed)


async def record_operation_contact(event: ReferralFacts, engine: AsyncEngine) -> None:
    """A referral under an operation: its facts for the debrief (an update replaces them)."""
    if not event.operation_group:
        return
    values = {
        "operation_group": event.operation_group,
        "child": event.pathway is Pathway.CHILD,
        "nrm_consent": event.nrm_consent.value,
        "recorded_at": event.recorded_at,
    }
    async with engine.begin() as connection:
        inserted = await connection.execute(
            insert_ignoring_duplicates(connection, operation_contacts).values(
                case_reference=event.case_reference, **values
            )
        )
        if not inserted.rowcount:
            await connection.execute(
                operation_contacts.update()
                .where(operation_contacts.c.case_reference == event.case_reference)
                .values(**values)
            )


async def debriefs_for(
    engine: AsyncEngine, series_id: str, starts_at: datetime
) -> list[OperationDebrief]:
    """The debriefs on this meeting's agenda, in the order the operations ended."""
    async with engine.connect() as connection:
        plans = (
            await connection.execute(
                sa.select(operation_debriefs)
                .where(
                    operation_debriefs.c.meeting_series == series_id,
                    operation_debriefs.c.meeting_starts_at == starts_at,
                )
                .order_by(operation_debriefs.c.ends_at, operation_debriefs.c.operation_group)
            )
        ).all()
        debriefs = []
        for plan in plans:
            contacts = (
                await connection.execute(
                    sa.select(operation_contacts).where(
                        operation_contacts.c.operation_group == plan.operation_group,
                        operation_contacts.c.recorded_at >= plan.starts_at - EARLY_CONTACTS,
                        operation_contacts.c.recorded_at < starts_at,
                    )
                )
            ).all()
            references = [row.case_reference for row in contacts]
            tasks = await connection.scalar(
                sa.select(sa.func.count())
                .select_from(case_tasks)
                .where(case_tasks.c.case_reference.in_(references))
            )
            debriefs.append(
                OperationDebrief(
                    operation=plan.operation,
                    operation_group=plan.operation_group,
                    district=plan.district,
                    starts_at=plan.starts_at,
                    ends_at=plan.ends_at,
                    expected_victims=plan.expected_victims,
                    contacts=len(contacts),
                    children=sum(row.child for row in contacts),
                    consent_given=sum(row.nrm_consent == NrmConsent.GIVEN for row in contacts),
                    consent_declined=sum(
                        row.nrm_consent == NrmConsent.DECLINED for row in contacts
                    ),
                    tasks_opened=int(tasks or 0),
                )
            )
    return debriefs


DEBRIEF_COLUMNS = (
    ("Operation", 22), ("District", 14), ("When (UK time)", 24), ("Contacts", 8),
    ("Children", 8), ("NRM consent given", 8), ("NRM consent declined", 8), ("Tasks opened", 8),
)  # fmt: skip


def window(debrief: OperationDebrief) -> str:
    start, end = debrief.starts_at.astimezone(LONDON), debrief.ends_at.astimezone(LONDON)
    return f"{start:%H:%M %a %d %b} to {end:%H:%M %a %d %b %Y}"


def debrief_block(debriefs: Sequence[OperationDebrief]) -> Block:
    """The agenda's debrief table: one row per operation, counts under 3 suppressed."""
    if not debriefs:
        return Paragraph("No police operations to debrief.")
    return Table(
        header=tuple(name for name, _ in DEBRIEF_COLUMNS),
        widths=tuple(width for _, width in DEBRIEF_COLUMNS),
        rows=tuple(
            (
                item.operation,
                label(DISTRICTS, item.district),
                window(item),
                suppressed(item.contacts),
                suppressed(item.children),
                suppressed(item.consent_given),
                suppressed(item.consent_declined),
                suppressed(item.tasks_opened),
            )
            for item in debriefs
        ),
    )
