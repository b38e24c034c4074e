"""Property tests of intake's age rules (services/intake/domain.py): completed years by a simple
reference, and the child pathway exactly when the age on the London calendar is under 18."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.intake.contract import PoliceContactV1, parse_contact
from services.intake.domain import age_on, decide_pathway, known_age
from shared.events import Pathway
from tests.unit.builders import example_dict

LONDON_REFERENCE = ZoneInfo("Europe/London")
# Far after every generated recorded_at: the contract refuses a recorded_at in the future.
PARSE_NOW = datetime(2200, 1, 1, tzinfo=UTC)
# No example database: each run stands alone (seed with --hypothesis-seed to repeat one).
PROPERTY = settings(max_examples=300, deadline=None, database=None)
PARSING_PROPERTY = settings(max_examples=200, deadline=None, database=None)

FIXED_OFFSETS: list[tzinfo] = [
    UTC if quarters == 0 else timezone(timedelta(minutes=15 * quarters))
    for quarters in range(-12 * 4, 14 * 4 + 1)
]
# Named zones, for their DST rules and history (London kept BST all year in 1968-71).
NAMED_ZONES: list[tzinfo] = [
    LONDON_REFERENCE,
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),  # half-hour DST
    ZoneInfo("Pacific/Kiritimati"),  # +14:00; -10:29:20 local mean time until 1901
]


def _whole_minute_offset(instant: datetime) -> bool:
    """The contract's ISO 8601 form (as RFC 3339) has no seconds in an offset: a local mean time
    such as Kiritimati's -10:29:20 cannot be sent."""
    offset = instant.utcoffset()
    return offset is not None and offset.total_seconds() % 60 == 0


TestFunction = TypeVar("TestFunction", bound=Callable[..., None])

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@st.composite
def birth_and_later_day(draw: st.DrawFn) -> tuple[date, date]:
    """A birth and a day on or after it, both in range (so every example is an age)."""
    birth = draw(dates)
    return birth, draw(st.dates(min_value=birth, max_value=date(2100, 12, 31)))


def instants_between(first: datetime, last: datetime) -> st.SearchStrategy[datetime]:
    """Aware instants, written at fixed offsets or in named zones (naive bounds, local time)."""
    return st.datetimes(
        min_value=first, max_value=last, timezones=st.sampled_from(FIXED_OFFSETS + NAMED_ZONES)
    ).filter(_whole_minute_offset)


instants = instants_between(datetime(1900, 1, 2), datetime(2100, 12, 30))
# Late enough that a birth 18 years and a few days before is not before 1900.
instants_with_adults = instants_between(datetime(1919, 1, 2), datetime(2100, 12, 30))


def birthday_in(birth: date, year: int) -> date:
    """The day a birthday is celebrated in `year`: 29 February counts from 1 March in common years."""
    try:
        return birth.replace(year=year)
    except ValueError:
        return date(year, 3, 1)


def reference_age(birth: date, day: date) -> int:
    """Count the birthdays that have passed by `day`."""
    return sum(1 for year in range(birth.year + 1, day.year + 1) if birthday_in(birth, year) <= day)


def london_date(instant: datetime) -> date:
    return instant.astimezone(LONDON_REFERENCE).date()


def contact(date_of_birth: date, recorded_at: datetime) -> PoliceContactV1:
    document: dict[str, Any] = example_dict()
    document["person"]["date_of_birth"] = date_of_birth.isoformat()
    document["person"]["age_estimate"] = None
    document["recorded_at"] = recorded_at.isoformat()
    return parse_contact(json.dumps(document), PARSE_NOW)


def test_the_example_contact_is_an_adult_who_declined_the_nrm() -> None:
    """The adult pathway the properties expect follows from the example's consent."""
    parsed = contact(date(1990, 5, 17), datetime(2026, 11, 27, 22, 41, tzinfo=UTC))
    assert parsed.nrm_consent.value == "declined"
    assert decide_pathway(parsed) == (Pathway.DUTY_TO_NOTIFY, False)


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        pytest.param(date(2004, 2, 29), date(2022, 2, 28), 17, id="leapling_common_28_feb"),
        pytest.param(date(2004, 2, 29), date(2022, 3, 1), 18, id="leapling_common_1_mar"),
        pytest.param(date(2004, 2, 29), date(2024, 2, 28), 19, id="leapling_leap_28_feb"),
        pytest.param(date(2004, 2, 29), date(2024, 2, 29), 20, id="leapling_leap_29_feb"),
        pytest.param(date(2008, 6, 10), date(2026, 6, 10), 18, id="birthday_today"),
        pytest.param(date(2008, 6, 10), date(2026, 6, 9), 17, id="birthday_tomorrow"),
        pytest.param(date(1900, 1, 1), date(2100, 12, 31), 200, id="whole_range"),
    ],
)
def test_reference_age_itself(birth: date, day: date, age: int) -> None:
    assert reference_age(birth, day) == age


@PROPERTY
@given(pair=birth_and_later_day())
@example(pair=(date(2008, 6, 10), date(2026, 6, 10)))  # birthday today
@example(pair=(date(2008, 6, 10), date(2026, 6, 9)))
@example(pair=(date(2008, 2, 29), date(2026, 2, 28)))  # 29 Feb, common year
@example(pair=(date(2008, 2, 29), date(2026, 3, 1)))
@example(pair=(date(2004, 2, 29), date(2024, 2, 28)))  # 29 Feb, leap year
@example(pair=(date(2004, 2, 29), date(2024, 2, 29)))
@example(pair=(date(2000, 2, 29), date(2100, 2, 28)))  # 2100 is not a leap year
@example(pair=(date(2000, 2, 29), date(2100, 3, 1)))
@example(pair=(date(1999, 12, 31), date(2000, 1, 1)))
@example(pair=(date(1990, 5, 17), date(1990, 5, 17)))  # born today
def test_age_on_counts_the_birthdays_passed(pair: tuple[date, date]) -> None:
    birth, day = pair
    assert age_on(birth, day) == reference_age(birth, day)


@PROPERTY
@given(
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    years=st.integers(min_value=1, max_value=200),
)
@example(birth=date(2008, 2, 29), years=18)  # celebrated on 1 March 2026
@example(birth=date(2004, 2, 29), years=20)  # on 29 February 2024
def test_age_on_grows_by_one_exactly_on_the_birthday(birth: date, years: int) -> None:
    """On the day the `years`-th birthday is celebrated the age is `years`; the day before, one
    less: both by subtraction, not by asking age_on twice."""
    years = min(years, 2100 - birth.year)  # stay in the calendar's range: at least 1
    celebrated = birthday_in(birth, birth.year + years)
    assert age_on(birth, celebrated) == years
    assert age_on(birth, celebrated - timedelta(days=1)) == years - 1


# Boundaries of 2026's summer time: BST from 29 March 01:00Z, GMT again from 25 October 01:00Z.
# London midnights around them: 29 Mar 00:00Z (GMT), 30 Mar 23:00Z the day before (BST),
# 25 Oct 2026-10-24T23:00Z (BST), 26 Oct 00:00Z (GMT).
BOUNDARY_CASES = [
    # (date of birth, recorded_at, age on the London calendar)
    (date(2008, 3, 29), datetime(2026, 3, 28, 23, 59, tzinfo=UTC), 17),
    (date(2008, 3, 29), datetime(2026, 3, 29, 0, 1, tzinfo=UTC), 18),
    (date(2008, 3, 29), datetime(2026, 3, 29, 0, 59, tzinfo=UTC), 18),
    (date(2008, 3, 29), datetime(2026, 3, 29, 1, 1, tzinfo=UTC), 18),
    (date(2008, 3, 30), datetime(2026, 3, 29, 22, 59, tzinfo=UTC), 17),
    (date(2008, 3, 30), datetime(2026, 3, 29, 23, 1, tzinfo=UTC), 18),
    (date(2008, 10, 25), datetime(2026, 10, 24, 22, 59, tzinfo=UTC), 17),
    (date(2008, 10, 25), datetime(2026, 10, 24, 23, 1, tzinfo=UTC), 18),
    (date(2008, 10, 25), datetime(2026, 10, 25, 0, 59, tzinfo=UTC), 18),
    (date(2008, 10, 25), datetime(2026, 10, 25, 1, 1, tzinfo=UTC), 18),
    (date(2008, 10, 26), datetime(2026, 10, 25, 23, 59, tzinfo=UTC), 17),
    (date(2008, 10, 26), datetime(2026, 10, 26, 0, 1, tzinfo=UTC), 18),
    # The same instants written at other offsets: the offset's own date must not count.
    (date(2008, 10, 25), datetime(2026, 10, 25, 4, 31, tzinfo=timezone(timedelta(hours=5.5))), 18),
    (date(2008, 10, 25), datetime(2026, 10, 24, 18, 59, tzinfo=timezone(timedelta(hours=-4))), 17),
    (date(2008, 3, 30), datetime(2026, 3, 30, 9, 1, tzinfo=timezone(timedelta(hours=10))), 18),
    (date(2008, 3, 30), datetime(2026, 3, 29, 12, 59, tzinfo=timezone(timedelta(hours=-10))), 17),
    # London kept BST all year from October 1968 to October 1971.
    (date(1953, 1, 1), datetime(1970, 12, 31, 23, 30, tzinfo=UTC), 18),
    # Birthday today / exactly 18 / 29 February.
    (date(2008, 6, 10), datetime(2026, 6, 10, 9, 0, tzinfo=UTC), 18),
    (date(2008, 6, 11), datetime(2026, 6, 10, 22, 59, tzinfo=UTC), 17),
    (date(2008, 6, 11), datetime(2026, 6, 10, 23, 0, tzinfo=UTC), 18),
    (date(2008, 2, 29), datetime(2026, 2, 28, 23, 59, tzinfo=UTC), 17),
    (date(2008, 2, 29), datetime(2026, 3, 1, 0, 0, tzinfo=UTC), 18),
    (date(2004, 2, 29), datetime(2022, 3, 1, 0, 1, tzinfo=UTC), 18),
    (date(2004, 2, 29), datetime(2024, 2, 29, 0, 1, tzinfo=UTC), 20),
]


@pytest.mark.parametrize(("birth", "recorded_at", "age"), BOUNDARY_CASES)
def test_boundary_ages_and_pathways_exactly(birth: date, recorded_at: datetime, age: int) -> None:
    parsed = contact(birth, recorded_at)
    assert known_age(parsed) == age
    expected = Pathway.CHILD if age < 18 else Pathway.DUTY_TO_NOTIFY
    assert decide_pathway(parsed) == (expected, False)


def _with_boundary_examples(test: TestFunction) -> TestFunction:
    for birth, recorded_at, _ in BOUNDARY_CASES:
        test = example(birth=birth, recorded_at=recorded_at)(test)
    return test


@PROPERTY
@given(birth=dates, recorded_at=instants)
@_with_boundary_examples
# Inside Lord Howe's half-hour DST gap, and in London's all-year BST of 1968-71.
@example(
    birth=date(2006, 10, 6),
    recorded_at=datetime(2024, 10, 6, 2, 0, tzinfo=ZoneInfo("Australia/Lord_Howe")),
)
@example(birth=date(1953, 1, 1), recorded_at=datetime(1970, 12, 31, 23, 30, tzinfo=UTC))
def test_child_pathway_exactly_when_the_london_age_is_under_18(
    birth: date, recorded_at: datetime
) -> None:
    met_on = london_date(recorded_at)
    if birth > met_on:
        # Born after the meeting on the London calendar (the age decision's): refused.
        with pytest.raises(ValidationError, match="date_of_birth is after recorded_at"):
            contact(birth, recorded_at)
        return
    parsed = contact(birth, recorded_at)
    # The same instant after the JSON round trip. (Compared in UTC: Python never finds a time in
    # a zone's DST gap or fold equal to one in another zone.)
    assert parsed.recorded_at.astimezone(UTC) == recorded_at.astimezone(UTC)
    age = reference_age(birth, met_on)
    assert known_age(parsed) == age
    expected = Pathway.CHILD if age < 18 else Pathway.DUTY_TO_NOTIFY
    assert decide_pathway(parsed) == (expected, False)


@PARSING_PROPERTY
@given(recorded_at=instants_with_adults, shift_days=st.integers(min_value=-3, max_value=3))
def test_born_about_eighteen_years_before_the_london_date(
    recorded_at: datetime, shift_days: int
) -> None:
    """Concentrates on births a few days either side of the 18th birthday, where the pathway
    flips; random births over two centuries rarely land there."""
    met_on = london_date(recorded_at)
    birth = birthday_in(met_on, met_on.year - 18) + timedelta(days=shift_days)
    parsed = contact(birth, recorded_at)
    age = reference_age(birth, met_on)
    assert age in (17, 18)
    assert known_age(parsed) == age
    assert decide_pathway(parsed)[0] is (Pathway.CHILD if age < 18 else Pathway.DUTY_TO_NOTIFY)


def test_a_birth_after_the_london_date_is_refused_never_a_negative_age() -> None:
    """15 June 01:00 at +14:00 is 14 June in London: a birth on the 15th is after the meeting on
    the age decision's calendar, though not on the offset's own date. Born on the 14th: age 0."""
    recorded_at = datetime(2026, 6, 15, 1, 0, tzinfo=timezone(timedelta(hours=14)))
    assert london_date(recorded_at) == date(2026, 6, 14)
    with pytest.raises(ValidationError, match="date_of_birth is after recorded_at"):
        contact(date(2026, 6, 15), recorded_at)
    assert known_age(contact(date(2026, 6, 14), recorded_at)) == 0
