"""Onward referrals on the case panel's agenda (issue #15 part 2): casework publishes every referral
made and every outcome as ReferralOutcomeRecordedV1 on the tasks topic; the scheduler keeps the
latest outcome of each referral and lists a case's referrals under its agenda item.

Latest means by the event's `occurred_at`; in the same instant (casework's clock is the only
one, and a frozen clock in tests gives every change one time), by the outcome's stage, as every
change casework allows moves a referral forward (made → waiting list → accepted → declined or
completed: services/casework/referrals.py); then by `event_id`, so that even two final outcomes
settle the same way on every replay. A redelivered or older event, in whatever order the
partition replays them, never replaces a newer one. No history is kept: casework has it.
Only ids, the need, the organisation (a directory id or a short name), the outcome and a decline
reason from a fixed list arrive, so nothing here can name the person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.meeting_scheduler.adapters.tables import referral_outcomes
from services.meeting_scheduler.layout import Block, Paragraph, Table
from shared.clock import LONDON
from shared.db import insert_ignoring_duplicates
from shared.events import ReferralOutcomeRecordedV1
from shared.labels import TASK_KINDS, label
from shared.logging import get_logger

log = get_logger(__name__)

# Casework's outcomes and decline reasons (services/casework/referrals.py) as the agenda says them;
# a value a newer casework adds still prints as words (shared/labels.py `label`).
OUTCOMES = {
    "made": "Referred, no answer yet",
    "accepted": "Accepted",
    "declined": "Declined",
    "waiting_list": "On a waiting list",
    "completed": "Completed",
}
DECLINE_REASONS = {
    "not_eligible": "not eligible",
    "no_capacity": "no capacity",
    "out_of_area": "out of area",
    "person_declined": "the person declined",
    "person_unreachable": "the person could not be reached",
    "need_met_elsewhere": "need met elsewhere",
    "other_service_more_suitable": "another service is more suitable",
}


# An outcome's stage: each change casework allows goes to a higher one (see the module docstring).
STAGES = {"made": 0, "waiting_list": 1, "accepted": 2, "declined": 3, "completed": 3}


@dataclass(frozen=True)
class OnwardReferral:
    """A referral's latest outcome as the agenda shows it. `recorded_at`: when casework recorded
    that outcome (the event's occurred_at)."""

    task_id: str
    referral_id: str
    need: str
    organisation_id: str | None
    organisation_name: str | None
    outcome: str
    decline_reason: str | None
    recorded_at: datetime

    @property
    def organisation(self) -> str:
        return self.organisation_id or self.organisation_name or "not recorded"

    @property
    def recorded_on(self) -> date:
        """The London date; at the calendar's edge (year 1, before London's offset) the UTC one."""
        try:
            return self.recorded_at.astimezone(LONDON).date()
        except OverflowError:
            return self.recorded_at.astimezone(UTC).date()

    def describe_outcome(self) -> str:
        text = label(OUTCOMES, self.outcome)
        if self.decline_reason:
            text += f": {label(DECLINE_REASONS, self.decline_reason)}"
        return text


async def record_referral_outcome(event: ReferralOutcomeRecordedV1, engine: AsyncEngine) -> bool:
    """Keep the referral's outcome if it is newer than the one kept (or the first); True if it
    changed what the agenda shows. Idempotent without a processed-events claim: a redelivery is
    not newer than itself."""
    values = {
        "case_reference": event.case_reference, "task_id": event.task_id, "need": event.kind,
        "organisation_id": event.organisation_id, "organisation_name": event.organisation_name,
        "outcome": event.outcome, "decline_reason": event.decline_reason,
        "recorded_at": event.occurred_at, "event_id": str(event.event_id),
    }  # fmt: skip
    async with engine.begin() as connection:
        kept = await connection.execute(
            insert_ignoring_duplicates(connection, referral_outcomes).values(
                referral_id=event.referral_id, **values
            )
        )
        if not kept.rowcount:
            table = referral_outcomes.c
            stage = sa.case(STAGES, value=table.outcome, else_=len(STAGES))
            new_stage = STAGES.get(event.outcome, len(STAGES))
            kept = await connection.execute(
                referral_outcomes.update()
                .where(
                    table.referral_id == event.referral_id,
                    sa.or_(
                        table.recorded_at < event.occurred_at,
                        sa.and_(table.recorded_at == event.occurred_at, stage < new_stage),
                        sa.and_(
                            table.recorded_at == event.occurred_at,
                            stage == new_stage,
                            table.event_id < str(event.event_id),
                        ),
                    ),
                )
                .values(**values)
            )
    changed = bool(kept.rowcount)
    log.info("referral_outcome_received", case_reference=event.case_reference,
             outcome=event.outcome, kept=changed)  # fmt: skip
    return changed


async def onward_referrals_for(
    connection: AsyncConnection, references: Sequence[str] | sa.Select[str]
) -> dict[str, tuple[OnwardReferral, ...]]:
    """Each case's referrals, by need, then the time of their outcome (`references`: the case
    references, or a query giving them)."""
    rows = await connection.execute(
        sa.select(referral_outcomes)
        .where(referral_outcomes.c.case_reference.in_(references))
        .order_by(
            referral_outcomes.c.need,
            referral_outcomes.c.recorded_at,
            referral_outcomes.c.referral_id,
        )
    )
    found: dict[str, list[OnwardReferral]] = {}
    for row in rows:
        found.setdefault(row.case_reference, []).append(
            OnwardReferral(
                task_id=row.task_id, referral_id=row.referral_id, need=row.need,
                organisation_id=row.organisation_id, organisation_name=row.organisation_name,
                outcome=row.outcome, decline_reason=row.decline_reason,
                recorded_at=row.recorded_at,
            )
        )  # fmt: skip
    return {reference: tuple(referrals) for reference, referrals in found.items()}


# Per cent of the page: four columns print at the body size (printing.py), so a directory id as
# long as the shipped directory's longest (40 letters) and the longest need label fit their cells.
COLUMNS = (("Need", 19), ("Organisation", 41), ("Outcome", 26), ("Recorded", 14))


def onward_referrals_blocks(cases: Sequence[tuple[str, Sequence[OnwardReferral]]]) -> list[Block]:
    """A small table per case, in the order given (the agenda's): one row per referral."""
    blocks: list[Block] = []
    for reference, referrals in cases:
        rows = tuple(
            (
                label(TASK_KINDS, referral.need),
                referral.organisation,
                referral.describe_outcome(),
                f"{referral.recorded_on.day} {referral.recorded_on:%B %Y}",
            )
            for referral in referrals
        )
        blocks += [
            Paragraph(f"Case {reference}"),
            Table(
                header=tuple(name for name, _ in COLUMNS),
                widths=tuple(width for _, width in COLUMNS),
                rows=rows,
            ),
        ]
    return blocks
