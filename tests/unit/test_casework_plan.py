"""Casework's task plan: which tasks a referral gets and when each is due (English working days)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import holidays
import pytest

from services.casework.domain import (
    CHILD_HANDOVER,
    DUTY_TO_NOTIFY_CHECK,
    EXPLAIN_NRM,
    FIRST_CONTACT,
    DeadlinePolicy,
    Due,
    plan_tasks,
)
from shared.clock import LONDON
from shared.events import (
    District,
    ExploitationType,
    NrmConsent,
    Pathway,
    ReferralOpenedV1,
    SupportNeed,
    Urgency,
)
from shared.working_days import is_working_day

FOUR_NEEDS = (
    SupportNeed.SAFE_ACCOMMODATION,
    SupportNeed.HEALTHCARE,
    SupportNeed.LEGAL_ADVICE,
    SupportNeed.INTERPRETER,
)


def _referral(**changes: Any) -> ReferralOpenedV1:
    fields: dict[str, Any] = {
        "occurred_at": datetime(2026, 6, 10, 9, 0, tzinfo=UTC),
        "correlation_id": "c-1",
        "producer": "intake",
        "case_reference": "MS-2026-7KQ2M4",
        "force_code": "NFK",
        "recorded_at": datetime(2026, 6, 10, 8, 30, tzinfo=UTC),
        "district": District.NORWICH,
        "exploitation_types": (ExploitationType.LABOUR,),
        "pathway": Pathway.DUTY_TO_NOTIFY,
        "age_unknown": False,
        "urgency": Urgency.IMMEDIATE,
        "immediate_risk": True,
        "nrm_consent": NrmConsent.DECLINED,
        "support_needs": FOUR_NEEDS,
    }
    fields.update(changes)
    return ReferralOpenedV1(**fields)


def _london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def _plan(referral: ReferralOpenedV1, received_at: datetime) -> list[tuple[str, datetime]]:
    return [(t.kind, t.due_at) for t in plan_tasks(referral, DeadlinePolicy(), received_at)]


def test_declined_adult_with_four_needs_gets_six_tasks_with_default_deadlines() -> None:
    received = _london(2026, 6, 10, 10, 0)  # Wednesday, BST
    assert _plan(_referral(), received) == [
        (FIRST_CONTACT, _london(2026, 6, 10, 11, 0)),
        (DUTY_TO_NOTIFY_CHECK, _london(2026, 6, 12, 17, 0)),
        ("safe_accommodation", _london(2026, 6, 10, 14, 0)),
        ("healthcare", _london(2026, 6, 11, 17, 0)),
        ("legal_advice", _london(2026, 6, 17, 17, 0)),
        ("interpreter", _london(2026, 6, 11, 17, 0)),
    ]


@pytest.mark.parametrize(
    ("urgency", "hours"),
    [(Urgency.IMMEDIATE, 1), (Urgency.PRIORITY, 24), (Urgency.ROUTINE, 24)],
)
def test_first_contact_deadline_depends_on_urgency(urgency: Urgency, hours: int) -> None:
    received = _london(2026, 6, 10, 10, 0)
    first = plan_tasks(_referral(urgency=urgency), DeadlinePolicy(), received)[0]
    assert first.kind == FIRST_CONTACT
    assert (first.due_at - received).total_seconds() == hours * 3600


def test_english_bank_holidays_of_christmas_2026() -> None:
    english = holidays.country_holidays("GB", subdiv="ENG", years=[2026, 2027])
    assert date(2026, 12, 25) in english  # Friday
    assert date(2026, 12, 28) in english  # Monday, Boxing Day (26th, a Saturday) substitute
    assert date(2027, 1, 1) in english  # Friday
    assert date(2026, 12, 29) not in english
    assert [is_working_day(date(2026, 12, d)) for d in range(24, 32)] == [
        True, False, False, False, False, True, True, True,
    ]  # fmt: skip


def test_christmas_eve_deadlines_skip_bank_holidays_and_cross_the_year() -> None:
    received = _london(2026, 12, 24, 10, 0)  # Thursday, GMT
    assert _plan(_referral(), received) == [
        (FIRST_CONTACT, _london(2026, 12, 24, 11, 0)),
        (DUTY_TO_NOTIFY_CHECK, _london(2026, 12, 30, 17, 0)),
        ("safe_accommodation", _london(2026, 12, 24, 14, 0)),
        ("healthcare", _london(2026, 12, 29, 17, 0)),
        ("legal_advice", _london(2027, 1, 5, 17, 0)),
        ("interpreter", _london(2026, 12, 29, 17, 0)),
    ]


def test_friday_before_the_may_bank_holiday() -> None:
    assert date(2026, 5, 4) in holidays.country_holidays("GB", subdiv="ENG", years=2026)
    received = _london(2026, 5, 1, 10, 0)  # Friday; Monday 4 May is Early May bank holiday
    due = dict(_plan(_referral(), received))
    assert due["healthcare"] == _london(2026, 5, 5, 17, 0)
    assert due[DUTY_TO_NOTIFY_CHECK] == _london(2026, 5, 6, 17, 0)
    assert due["legal_advice"] == _london(2026, 5, 11, 17, 0)


def test_working_days_count_from_the_london_date() -> None:
    received = datetime(2026, 6, 8, 23, 30, tzinfo=UTC)  # Monday UTC, Tuesday 00:30 BST
    assert dict(_plan(_referral(), received))["healthcare"] == _london(2026, 6, 10, 17, 0)


def test_working_day_deadline_is_17_00_london_in_both_seasons() -> None:
    winter = dict(_plan(_referral(), _london(2026, 1, 14, 9, 0)))["healthcare"]
    summer = dict(_plan(_referral(), _london(2026, 7, 15, 9, 0)))["healthcare"]
    assert winter == datetime(2026, 1, 15, 17, 0, tzinfo=UTC)
    assert summer == datetime(2026, 7, 16, 16, 0, tzinfo=UTC)


def test_child_pathway_gets_the_handover_task_alone() -> None:
    received = _london(2026, 6, 10, 10, 0)
    child = _referral(pathway=Pathway.CHILD, nrm_consent=NrmConsent.NOT_ASKED)
    assert _plan(child, received) == [(CHILD_HANDOVER, _london(2026, 6, 10, 11, 0))]


def test_not_asked_gets_explain_nrm_instead_of_duty_to_notify_check() -> None:
    referral = _referral(
        pathway=Pathway.NRM_DECISION_PENDING,
        nrm_consent=NrmConsent.NOT_ASKED,
        urgency=Urgency.PRIORITY,
        support_needs=(),
    )
    assert _plan(referral, _london(2026, 6, 10, 10, 0)) == [
        (FIRST_CONTACT, _london(2026, 6, 11, 10, 0)),
        (EXPLAIN_NRM, _london(2026, 6, 12, 17, 0)),
    ]


def test_consent_given_gets_no_consent_task() -> None:
    referral = _referral(pathway=Pathway.NRM, nrm_consent=NrmConsent.GIVEN, support_needs=())
    assert [kind for kind, _ in _plan(referral, _london(2026, 6, 10, 10, 0))] == [FIRST_CONTACT]


# From Wednesday 10 June 2026 (no bank holiday until 31 August), counted on a calendar:
# 1 working day: Thu 11; 5: Wed 17 (Thu 11, Fri 12, Mon 15, Tue 16, Wed 17);
# 10: Wed 24 (then Thu 18, Fri 19, Mon 22, Tue 23, Wed 24).
@pytest.mark.parametrize(
    ("need", "due_day"),
    [(need, date(2026, 6, 24)) for need in ("employment", "education", "substance_misuse", "other")]
    + [(need, date(2026, 6, 17)) for need in ("immigration_advice", "housing", "financial_support")]
    + [("mental_health", date(2026, 6, 11))],
)
def test_default_working_days_per_need(need: str, due_day: date) -> None:
    received = _london(2026, 6, 10, 10, 0)
    assert DeadlinePolicy().due(need, received) == datetime.combine(
        due_day, time(17, 0), tzinfo=LONDON
    )


def _reference_working_days_later(start: date, count: int) -> date:
    """The simplest count there is: walk the calendar a day at a time, skipping weekends and the
    days the holidays package lists for England."""
    english = holidays.country_holidays("GB", subdiv="ENG", years=range(start.year, start.year + 2))
    day, left = start, count
    while left:
        day += timedelta(days=1)
        if day.isoweekday() <= 5 and day not in english:
            left -= 1
    return day


@pytest.mark.parametrize(
    ("need", "count"),
    [("healthcare", 1), ("legal_advice", 5), ("employment", 10), ("mental_health", 1)],
)
def test_working_day_deadlines_match_a_calendar_count_every_day_of_2026(
    need: str, count: int
) -> None:
    """Every London date of 2026 (bank holidays, Easter, Christmas into 2027), received at 10:00."""
    mismatched = []
    day = date(2026, 1, 1)
    while day.year == 2026:
        expected = datetime.combine(_reference_working_days_later(day, count), time(17, 0), LONDON)
        due = DeadlinePolicy().due(need, datetime.combine(day, time(10, 0), LONDON))
        if due != expected:
            mismatched.append((day, due, expected))
        day += timedelta(days=1)
    assert mismatched == []


def test_policy_overrides_apply() -> None:
    policy = DeadlinePolicy(first_contact_immediate=Due(hours=2), working_day_closes_at=time(16))
    tasks = plan_tasks(_referral(), policy, _london(2026, 6, 10, 10, 0))
    assert tasks[0].due_at == _london(2026, 6, 10, 12, 0)
    assert {t.kind: t.due_at for t in tasks}["healthcare"] == _london(2026, 6, 11, 16, 0)
