"""Task lifecycle and chasing: pure rules.

open → in_progress → done | not_needed (with a reason) | referred (to an organisation, with an
outcome once known). A task is chased once per threshold: `due` when its deadline passes (the
assignee is reminded), `escalated` a configured time later (the head of service is told).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    NOT_NEEDED = "not_needed"
    REFERRED = "referred"


ACTIVE = frozenset({Status.OPEN, Status.IN_PROGRESS})
ALLOWED = {
    Status.OPEN: {Status.IN_PROGRESS, Status.DONE, Status.NOT_NEEDED, Status.REFERRED},
    Status.IN_PROGRESS: {Status.OPEN, Status.DONE, Status.NOT_NEEDED, Status.REFERRED},
    Status.REFERRED: {Status.DONE},  # the referral's outcome is known: the need is met
    Status.DONE: set(),
    Status.NOT_NEEDED: set(),
}
# Organisations a task may be referred to (DOMAIN.md); "other" needs a name in the detail.
ORGANISATIONS = frozenset(
    {"salvation_army_nrm_support", "legal_aid_provider", "immigration_adviser", "gp",
     "mental_health_service", "housing_options", "interpreter_service", "jobcentre",
     "education_provider", "substance_misuse_service", "police", "other"}
)  # fmt: skip


# How a referral was made.
REFERRAL_METHODS = frozenset({"phone", "email", "online_form", "in_person", "letter"})


class TransitionRefused(ValueError):
    """The change is not allowed; the message says why and is safe to return."""


@dataclass(frozen=True)
class Change:
    status: Status
    reason: str | None = None  # not_needed
    organisation: str | None = None  # referred
    outcome: str | None = None  # referred (if known at once), referred → done, or done
    method: str | None = None  # referred: one of REFERRAL_METHODS
    referred_on: date | None = None  # referred: the day it was made, not after today


def check_transition(current: Status, change: Change, today: date | None = None) -> None:
    """`today` (Europe/London) bounds a referral's date; None leaves it unchecked."""
    if change.status not in ALLOWED[current]:
        raise TransitionRefused(
            f"a task that is {current.value} cannot become {change.status.value}"
        )
    if change.status is Status.NOT_NEEDED and not change.reason:
        raise TransitionRefused("not_needed needs a reason")
    if change.status is Status.REFERRED and change.organisation not in ORGANISATIONS:
        raise TransitionRefused(
            f"referred needs an organisation, one of: {', '.join(sorted(ORGANISATIONS))}"
        )
    if (change.method or change.referred_on) and change.status is not Status.REFERRED:
        raise TransitionRefused("a referral's method and date are recorded when it is made")
    if change.method is not None and change.method not in REFERRAL_METHODS:
        raise TransitionRefused(
            f"the method of a referral is one of: {', '.join(sorted(REFERRAL_METHODS))}"
        )
    if change.referred_on and today and change.referred_on > today:
        raise TransitionRefused("a referral cannot be dated in the future")


@dataclass(frozen=True)
class ChasePolicy:
    escalate_after: timedelta = timedelta(hours=24)

    def thresholds(self, due_at: datetime) -> list[tuple[str, datetime]]:
        return [("due", due_at), ("escalated", due_at + self.escalate_after)]

    def crossed(self, due_at: datetime, now: datetime) -> list[str]:
        """Thresholds of an active task that `now` has passed."""
        return [name for name, at in self.thresholds(due_at) if at <= now]
