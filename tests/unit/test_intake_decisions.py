"""Intake's pure decisions: age, pathway, urgency and the case reference."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.intake.contract import PoliceContactV1
from services.intake.domain import (
    UrgencyPolicy,
    age_on,
    decide,
    decide_pathway,
    decide_urgency,
    known_age,
    new_case_reference,
)
from shared.events import Pathway, Urgency
from tests.unit.builders import contact_from, example_dict

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _contact(
    *,
    dob: str | None = None,
    estimate: int | None = None,
    recorded_at: str = "2026-11-27T22:41:00+00:00",
    consent: str = "declined",
    immediate_risk: bool = False,
) -> PoliceContactV1:
    document: dict[str, Any] = example_dict()
    document["person"]["date_of_birth"] = dob
    document["person"]["age_estimate"] = estimate
    document["recorded_at"] = recorded_at
    document["nrm_consent"] = consent
    document["immediate_risk"] = immediate_risk
    return contact_from(document, NOW)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        pytest.param(date(2008, 5, 17), date(2026, 5, 17), 18, id="18th_birthday_today"),
        pytest.param(date(2008, 5, 17), date(2026, 5, 16), 17, id="day_before_18th_birthday"),
        pytest.param(date(2008, 5, 17), date(2026, 5, 18), 18, id="day_after_18th_birthday"),
        pytest.param(date(2008, 12, 31), date(2026, 1, 1), 17, id="new_year_is_not_a_birthday"),
        pytest.param(date(2008, 2, 29), date(2026, 2, 28), 17, id="leapling_28_feb_common_year"),
        pytest.param(date(2008, 2, 29), date(2026, 3, 1), 18, id="leapling_1_march_common_year"),
        pytest.param(date(2010, 2, 28), date(2028, 2, 28), 18, id="28_feb_birthday"),
        pytest.param(date(2008, 2, 29), date(2028, 2, 28), 19, id="leapling_28_feb_leap_year"),
        pytest.param(date(2008, 2, 29), date(2028, 2, 29), 20, id="leapling_29_feb_leap_year"),
        pytest.param(date(1990, 5, 17), date(1990, 5, 17), 0, id="born_today"),
    ],
)
def test_age_on_counts_completed_years(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age


@pytest.mark.parametrize(
    ("dob", "recorded_at", "age"),
    [
        # 23:30 UTC on 14 June is 00:30 BST on 15 June in London: the 18th birthday has come.
        pytest.param("2008-06-15", "2026-06-14T23:30:00+00:00", 18, id="bst_london_date_ahead"),
        # 23:30 UTC on 28 March is 23:30 GMT in London: still 28 March, not yet 18.
        pytest.param("2008-03-29", "2026-03-28T23:30:00+00:00", 17, id="gmt_same_date"),
        # 01:30 at +03:00 on 15 June is 23:30 BST on 14 June: the offset's own date does not count.
        pytest.param("2008-06-15", "2026-06-15T01:30:00+03:00", 17, id="foreign_offset_date"),
        pytest.param("2008-06-15", "2026-06-14T23:00:00+00:00", 18, id="bst_midnight_exactly"),
        pytest.param("2008-06-15", "2026-06-14T22:59:00+00:00", 17, id="bst_minute_before"),
    ],
)
def test_known_age_uses_the_london_calendar_date(dob: str, recorded_at: str, age: int) -> None:
    assert known_age(_contact(dob=dob, recorded_at=recorded_at)) == age


def test_date_of_birth_wins_over_age_estimate() -> None:
    contact = _contact(dob="2010-01-01", estimate=30, recorded_at="2026-11-27T12:00:00+00:00")
    assert known_age(contact) == 16
    assert decide_pathway(contact) == (Pathway.CHILD, False)


def test_age_estimate_is_used_without_date_of_birth() -> None:
    assert known_age(_contact(estimate=25)) == 25


def test_no_date_of_birth_and_no_estimate_is_a_possible_child() -> None:
    contact = _contact()
    assert known_age(contact) is None
    assert decide_pathway(contact) == (Pathway.CHILD, True)


def test_turning_18_on_the_london_date_is_an_adult() -> None:
    contact = _contact(dob="2008-06-15", recorded_at="2026-06-14T23:30:00+00:00", consent="given")
    assert decide_pathway(contact) == (Pathway.NRM, False)


@pytest.mark.parametrize(
    ("consent", "pathway"),
    [
        ("given", Pathway.NRM),
        ("declined", Pathway.DUTY_TO_NOTIFY),
        ("not_asked", Pathway.NRM_DECISION_PENDING),
    ],
)
def test_adult_pathway_follows_nrm_consent(consent: str, pathway: Pathway) -> None:
    assert decide_pathway(_contact(estimate=18, consent=consent)) == (pathway, False)
    assert decide_pathway(_contact(dob="1990-05-17", consent=consent)) == (pathway, False)


@pytest.mark.parametrize("consent", ["given", "declined", "not_asked"])
def test_child_pathway_ignores_consent(consent: str) -> None:
    assert decide_pathway(_contact(estimate=17, consent=consent)) == (Pathway.CHILD, False)


CHILD_FIRST = UrgencyPolicy(child_is_immediate=True, default=Urgency.PRIORITY)
CHILD_NOT_FIRST = UrgencyPolicy(child_is_immediate=False, default=Urgency.ROUTINE)


@pytest.mark.parametrize(
    ("estimate", "immediate_risk", "policy", "urgency"),
    [
        pytest.param(30, True, CHILD_FIRST, Urgency.IMMEDIATE, id="adult_immediate_risk"),
        pytest.param(30, True, CHILD_NOT_FIRST, Urgency.IMMEDIATE, id="risk_beats_policy"),
        pytest.param(15, False, CHILD_FIRST, Urgency.IMMEDIATE, id="child_policy_immediate"),
        pytest.param(15, False, CHILD_NOT_FIRST, Urgency.ROUTINE, id="child_policy_default"),
        pytest.param(None, False, CHILD_FIRST, Urgency.IMMEDIATE, id="unknown_age_immediate"),
        pytest.param(30, False, CHILD_FIRST, Urgency.PRIORITY, id="adult_default_priority"),
        pytest.param(30, False, CHILD_NOT_FIRST, Urgency.ROUTINE, id="adult_policy_default"),
    ],
)
def test_urgency(
    estimate: int | None, immediate_risk: bool, policy: UrgencyPolicy, urgency: Urgency
) -> None:
    contact = _contact(estimate=estimate, immediate_risk=immediate_risk)
    pathway, _ = decide_pathway(contact)
    assert decide_urgency(contact, pathway, policy) is urgency
    assert decide(contact, policy).urgency is urgency


def test_default_policy_puts_a_child_first() -> None:
    decision = decide(_contact(estimate=12), UrgencyPolicy())
    assert (decision.pathway, decision.age_unknown, decision.urgency) == (
        Pathway.CHILD,
        False,
        Urgency.IMMEDIATE,
    )


REFERENCE = re.compile(r"^MS-\d{4}-[A-HJ-NP-Z2-9]{6}$")


def test_case_reference_format() -> None:
    references = {new_case_reference(NOW) for _ in range(200)}
    assert all(REFERENCE.fullmatch(reference) for reference in references)
    tails = "".join(reference[-6:] for reference in references)
    assert not set(tails) & set("01IO")


@pytest.mark.parametrize(
    ("now", "year"),
    [
        (datetime(2026, 12, 31, 23, 59, tzinfo=UTC), "2026"),
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), "2026"),
        # 00:30 on 1 Jan at +01:00 is still 23:30 on 31 Dec in London (GMT): London's year counts.
        (datetime.fromisoformat("2027-01-01T00:30:00+01:00"), "2026"),
    ],
)
def test_case_reference_year_is_the_london_year(now: datetime, year: str) -> None:
    assert new_case_reference(now).startswith(f"MS-{year}-")
