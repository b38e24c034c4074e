"""Criminal-justice support: a case's engagement with the investigation, as pure rules.

What is recorded is the person's *engagement* only (whether they were asked, are willing, declined,
gave an account, or have support booked at an interview or court, with the booked date-time) and
who recorded each change and when. Never any content of what was said: the record has no free-text
field at all (no notes, no reason, no detail), so no code path can store an account's content.

Transitions (anything else is refused, a 409 in the API):

| from \\ to               | willing | declined | account_given | support_booked |
|--------------------------|---------|----------|---------------|----------------|
| not_yet_asked (default)  | yes     | yes      | no            | no             |
| willing_to_give_account  | -       | yes      | yes           | yes            |
| declined                 | yes     | -        | no            | no             |
| account_given            | no      | no       | -             | yes (court)    |
| support_booked           | yes     | yes      | yes           | yes (rebooked) |

Nothing returns to not_yet_asked (the person has been asked). support_booked → support_booked is a
new booking (a new date or kind): its reminders are its own. support_booked → willing is a booking
cancelled, to be rearranged.

Reminders before a booked date: each configured offset is either `hours` (elapsed time before the
booked instant) or `working_days` (the same London wall-clock time on the N-th working day before
the booked day, skipping weekends and English bank holidays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.casework.domain import DeadlinePolicy, Due
from shared.clock import LONDON
from shared.working_days import subtract_working_days


class Engagement(StrEnum):
    NOT_YET_ASKED = "not_yet_asked"
    WILLING = "willing_to_give_account"
    DECLINED = "declined"
    ACCOUNT_GIVEN = "account_given"
    SUPPORT_BOOKED = "support_booked"


class BookingKind(StrEnum):
    INTERVIEW = "interview"
    COURT = "court"


ALLOWED: dict[Engagement, frozenset[Engagement]] = {
    Engagement.NOT_YET_ASKED: frozenset({Engagement.WILLING, Engagement.DECLINED}),
    Engagement.WILLING: frozenset(
        {Engagement.DECLINED, Engagement.ACCOUNT_GIVEN, Engagement.SUPPORT_BOOKED}
    ),
    Engagement.DECLINED: frozenset({Engagement.WILLING}),
    Engagement.ACCOUNT_GIVEN: frozenset({Engagement.SUPPORT_BOOKED}),
    Engagement.SUPPORT_BOOKED: frozenset(
        {Engagement.WILLING, Engagement.DECLINED, Engagement.ACCOUNT_GIVEN,
         Engagement.SUPPORT_BOOKED}
    ),
}  # fmt: skip


class EngagementRefused(ValueError):
    """The change is not allowed; the message names states only and is safe to return."""


@dataclass(frozen=True)
class Booking:
    kind: BookingKind
    at: datetime


def check_change(
    current: Engagement, new: Engagement, booking: Booking | None, now: datetime
) -> None:
    if new not in ALLOWED[current]:
        raise EngagementRefused(f"an engagement that is {current.value} cannot become {new.value}")
    if (new is Engagement.SUPPORT_BOOKED) != (booking is not None):
        raise EngagementRefused("support_booked, and only it, takes booked_at and kind")
    if booking is not None and booking.at <= now:
        raise EngagementRefused("a booking is for a time still to come")


@dataclass(frozen=True)
class ReminderOffset:
    """Before a booked instant: `hours` elapsed, or `working_days` at the same London time."""

    hours: float | None = None
    working_days: int | None = None

    @property
    def key(self) -> str:
        """Stable name of the offset: the reminder claim's key and the event's `before`."""
        if self.working_days is not None:
            return f"{self.working_days}_working_days"
        return f"{self.hours:.4f}".rstrip("0").rstrip(".") + "_hours"

    def instant(self, booked_at: datetime) -> datetime:
        if self.hours is not None:
            return booked_at - timedelta(hours=self.hours)
        assert self.working_days is not None
        local = booked_at.astimezone(LONDON)
        day = subtract_working_days(local.date(), self.working_days)
        # Same wall-clock time that day (across a clock change too), then back to the instant.
        return datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=LONDON)


def reminders_due(
    offsets: tuple[ReminderOffset, ...], booked_at: datetime, now: datetime
) -> list[ReminderOffset]:
    """Offsets whose instant has come while the booking is still ahead, latest instant last."""
    if now >= booked_at:
        return []
    due = [offset for offset in offsets if offset.instant(booked_at) <= now]
    return sorted(due, key=lambda offset: offset.instant(booked_at))


@dataclass(frozen=True)
class PlannedTask:
    kind: str
    due_at: datetime


@dataclass(frozen=True)
class EngagementPolicy:
    """From configuration (deploy/config/casework.yaml, `criminal_justice`): the task each state
    opens with its deadline, and the reminders before a booked date."""

    tasks: dict[Engagement, tuple[str, Due]] = field(default_factory=dict)
    reminders: tuple[ReminderOffset, ...] = ()
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)

    def task_on_entering(self, state: Engagement, now: datetime) -> PlannedTask | None:
        if state not in self.tasks:
            return None
        kind, due = self.tasks[state]
        return PlannedTask(kind, self.deadlines.resolve(due, now))

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(kind for kind, _ in self.tasks.values())
