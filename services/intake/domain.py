"""Intake's decisions: pure functions of the contact, the policy and `now`. No I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime

from services.intake.contract import PoliceContactV1
from shared.clock import LONDON
from shared.events import NrmConsent, Pathway, Urgency

ADULT_AGE = 18
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read over the phone


@dataclass(frozen=True)
class UrgencyPolicy:
    """Configuration: which contacts are phoned at once."""

    child_is_immediate: bool = True
    default: Urgency = Urgency.PRIORITY


@dataclass(frozen=True)
class Decision:
    pathway: Pathway
    age_unknown: bool
    urgency: Urgency


def age_on(birth: date, day: date) -> int:
    """Completed years. A 29 February birthday comes of age on 1 March in a common year."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def known_age(contact: PoliceContactV1) -> int | None:
    """Age when the officer met the person, by the calendar in Norfolk. Date of birth wins over
    an estimate."""
    person = contact.person
    if person.date_of_birth is not None:
        met_on = contact.recorded_at.astimezone(LONDON).date()
        return age_on(person.date_of_birth.get_secret_value(), met_on)
    return person.age_estimate


def decide_pathway(contact: PoliceContactV1) -> tuple[Pathway, bool]:
    """Children, and anyone whose age is unknown, take the child pathway (flagged when unknown)."""
    age = known_age(contact)
    if age is None:
        return Pathway.CHILD, True
    if age < ADULT_AGE:
        return Pathway.CHILD, False
    return {
        NrmConsent.GIVEN: Pathway.NRM,
        NrmConsent.DECLINED: Pathway.DUTY_TO_NOTIFY,
        NrmConsent.NOT_ASKED: Pathway.NRM_DECISION_PENDING,
    }[contact.nrm_consent], False


def decide_urgency(contact: PoliceContactV1, pathway: Pathway, policy: UrgencyPolicy) -> Urgency:
    if contact.immediate_risk:
        return Urgency.IMMEDIATE
    if pathway is Pathway.CHILD and policy.child_is_immediate:
        return Urgency.IMMEDIATE
    return policy.default


def decide(contact: PoliceContactV1, policy: UrgencyPolicy) -> Decision:
    pathway, age_unknown = decide_pathway(contact)
    return Decision(pathway, age_unknown, decide_urgency(contact, pathway, policy))


def operation_group(contact: PoliceContactV1) -> str | None:
    """A key shared by the contacts of one police operation, so a raid's dozens of referrals can be
    grouped (the notifier's burst handling builds on it). Spelling variants of one operation name
    ("Op Example", "op  example", "OP EXAMPLE") fall in one group; forces do not mix."""
    if contact.operation is None:
        return None
    return group_key(contact.force_code, contact.operation)


def group_key(force_code: str, operation: str) -> str | None:
    """`operation_group` of a force's operation name; an operation announced ahead
    (services/intake/operations.py) gets the same key as its contacts."""
    words = operation.casefold().split()
    if words and words[0] in {"op", "op.", "operation"}:
        words = words[1:]
    name = "-".join(words)
    return f"{force_code.upper()}:{name}" if name else None


def new_case_reference(now: datetime) -> str:
    """`MS-2026-7KQ2M4` style: year for humans, 30 bits of randomness against guessing."""
    tail = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
    return f"MS-{now.astimezone(LONDON).year}-{tail}"
