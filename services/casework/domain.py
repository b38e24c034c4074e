"""Which tasks a referral needs and when each is due: pure decisions with an explicit `now`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from shared.events import NrmConsent, Pathway, ReferralFacts, SupportNeed, Urgency
from shared.working_days import end_of_working_day

FIRST_CONTACT = "first_contact"
DUTY_TO_NOTIFY_CHECK = "confirm_duty_to_notify_submitted"
EXPLAIN_NRM = "explain_nrm_and_record_consent"
CHILD_HANDOVER = "childrens_services_handover"


@dataclass(frozen=True)
class Due:
    """Either elapsed hours or the close of the N-th working day."""

    hours: float | None = None
    working_days: int | None = None


def _default_deadlines() -> dict[str, Due]:
    deadlines = {
        SupportNeed.SAFE_ACCOMMODATION.value: Due(hours=4),
        DUTY_TO_NOTIFY_CHECK: Due(working_days=2),
        EXPLAIN_NRM: Due(working_days=2),
        CHILD_HANDOVER: Due(hours=1),
    }
    for need, days in (
        ((SupportNeed.HEALTHCARE, SupportNeed.MENTAL_HEALTH, SupportNeed.INTERPRETER), 1),
        ((SupportNeed.LEGAL_ADVICE, SupportNeed.IMMIGRATION_ADVICE, SupportNeed.HOUSING,
          SupportNeed.FINANCIAL_SUPPORT), 5),
        ((SupportNeed.EMPLOYMENT, SupportNeed.EDUCATION, SupportNeed.SUBSTANCE_MISUSE,
          SupportNeed.OTHER), 10),
    ):  # fmt: skip
        deadlines.update({item.value: Due(working_days=days) for item in need})
    return deadlines


@dataclass(frozen=True)
class DeadlinePolicy:
    """DOMAIN.md's defaults; settings may override any entry."""

    deadlines: dict[str, Due] = field(default_factory=_default_deadlines)
    first_contact_immediate: Due = Due(hours=1)
    first_contact_otherwise: Due = Due(hours=24)
    working_day_closes_at: time = time(17, 0)

    def due(self, kind: str, start: datetime) -> datetime:
        rule = self.deadlines[kind]
        return self.resolve(rule, start)

    def resolve(self, rule: Due, start: datetime) -> datetime:
        if rule.hours is not None:
            return start + timedelta(hours=rule.hours)
        assert rule.working_days is not None
        return end_of_working_day(start, rule.working_days, self.working_day_closes_at)


@dataclass(frozen=True)
class PlannedTask:
    kind: str
    due_at: datetime


def plan_tasks(
    referral: ReferralFacts, policy: DeadlinePolicy, received_at: datetime
) -> list[PlannedTask]:
    """One task per support need plus the standard ones. A child's case is handed to children's
    services, not worked here, so it gets the handover task alone."""
    if referral.pathway is Pathway.CHILD:
        return [PlannedTask(CHILD_HANDOVER, policy.due(CHILD_HANDOVER, received_at))]
    first_contact = (
        policy.first_contact_immediate
        if referral.urgency is Urgency.IMMEDIATE
        else policy.first_contact_otherwise
    )
    tasks = [PlannedTask(FIRST_CONTACT, policy.resolve(first_contact, received_at))]
    if referral.nrm_consent is NrmConsent.DECLINED:
        tasks.append(
            PlannedTask(DUTY_TO_NOTIFY_CHECK, policy.due(DUTY_TO_NOTIFY_CHECK, received_at))
        )
    if referral.nrm_consent is NrmConsent.NOT_ASKED:
        tasks.append(PlannedTask(EXPLAIN_NRM, policy.due(EXPLAIN_NRM, received_at)))
    tasks += [
        PlannedTask(need.value, policy.due(need.value, received_at))
        for need in referral.support_needs
    ]
    return tasks
