"""Onward referrals as records, as pure rules: outcomes, the allowed changes between them, the
fixed reasons for a decline, and when a referral with no answer yet is followed up.

A need task (housing, legal_advice, …) can hold one or more referrals, each to an organisation:
a directory entry (its id) or, for one not in the directory, a short name with a strict pattern.
Nothing else is free text: a decline's reason is one of DeclineReason, so no note about the person
can be stored, logged or published.

Outcomes (anything else is refused, a 409 in the API):

| from \\ to    | accepted | declined | waiting_list | completed |
|---------------|----------|----------|--------------|-----------|
| made          | yes      | yes      | yes          | no        |
| waiting_list  | yes      | yes      | -            | no        |
| accepted      | -        | yes      | no           | yes       |
| declined      | no       | -        | no           | no        |
| completed     | no       | no       | no           | -         |

Nothing returns to `made`; declined and completed are final (a new attempt is a new referral).
`accepted → declined` is the organisation or the person withdrawing after acceptance.

Follow-up: a referral still `made` when `referral_follow_up_working_days` working days have passed
since the day it was made (at the working day's close, 17:00 London by default, skipping weekends
and English bank holidays) reminds its advisor once.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Literal, get_args

from shared.clock import LONDON
from shared.working_days import add_working_days


class Outcome(StrEnum):
    MADE = "made"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WAITING_LIST = "waiting_list"
    COMPLETED = "completed"


class DeclineReason(StrEnum):
    """Why a referral was declined: a fixed list, never free text (DOMAIN.md, personal data)."""

    NOT_ELIGIBLE = "not_eligible"
    NO_CAPACITY = "no_capacity"
    OUT_OF_AREA = "out_of_area"
    PERSON_DECLINED = "person_declined"
    PERSON_UNREACHABLE = "person_unreachable"
    NEED_MET_ELSEWHERE = "need_met_elsewhere"
    OTHER_SERVICE_MORE_SUITABLE = "other_service_more_suitable"


# The directory's ways to refer (services/casework/directory.py ReferralMethod).
Method = Literal["phone", "email", "online_form", "self_referral"]
METHODS: tuple[str, ...] = get_args(Method)

ALLOWED: dict[Outcome, frozenset[Outcome]] = {
    Outcome.MADE: frozenset({Outcome.ACCEPTED, Outcome.DECLINED, Outcome.WAITING_LIST}),
    Outcome.WAITING_LIST: frozenset({Outcome.ACCEPTED, Outcome.DECLINED}),
    Outcome.ACCEPTED: frozenset({Outcome.DECLINED, Outcome.COMPLETED}),
    Outcome.DECLINED: frozenset(),
    Outcome.COMPLETED: frozenset(),
}

# A short organisation name for one not in the directory: letters, digits, spaces and a little
# punctuation, starting with a capital or a digit; no @, no +, no newline (no contact, no note).
ORGANISATION_NAME = r"^[A-Z0-9][A-Za-z0-9 &'(),./-]{1,79}$"
ORGANISATION_ID = r"^[a-z0-9][a-z0-9-]{1,63}$"  # a directory entry's id


class OutcomeRefused(ValueError):
    """The change is not allowed; the message names outcomes only and is safe to return."""


def check_outcome(current: Outcome, new: Outcome, reason: DeclineReason | None) -> None:
    if new not in ALLOWED[current]:
        raise OutcomeRefused(f"a referral that is {current.value} cannot become {new.value}")
    if (new is Outcome.DECLINED) != (reason is not None):
        raise OutcomeRefused("declined, and only it, takes a decline_reason")


def follow_up_due_at(made_on: date, working_days: int, closes_at: time = time(17)) -> datetime:
    """When a referral made on `made_on` (a London date) with no answer is followed up: the close
    of the `working_days`-th working day after it."""
    return datetime.combine(add_working_days(made_on, working_days), closes_at, tzinfo=LONDON)


def needs_follow_up(
    outcome: Outcome, made_on: date, working_days: int, now: datetime, closes_at: time = time(17)
) -> bool:
    return outcome is Outcome.MADE and now >= follow_up_due_at(made_on, working_days, closes_at)
