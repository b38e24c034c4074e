"""A series' upcoming meetings come from occurrences generated once, not from a walk of the rule
from its first meeting for every referral (services/meeting_scheduler/calendar.py `_kept`); the
answers are those of a plain walk with dateutil, also past the kept occurrences and for rules that
end."""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc
from datetime import datetime, timedelta
from typing import Any

import pytest
from dateutil.rrule import rrule, rrulestr

from services.meeting_scheduler.calendar import (
    KEPT_OCCURRENCES,
    SEARCH_LIMIT,
    MeetingSeries,
    place_item,
)
from shared.clock import LONDON
from shared.working_days import is_bank_holiday


def _series(rule: str, on_bank_holiday: str = "next_working_day") -> MeetingSeries:
    return MeetingSeries(
        id="case-panel", kind="case_panel", title="Case panel",
        starts=datetime(2026, 1, 7, 10, 0), rrule=rule, duration_minutes=60, location="Room 1",
        cutoff_working_days=2, cutoff_time="12:00", on_bank_holiday=on_bank_holiday,
    )  # fmt: skip


def _walked(series: MeetingSeries, moment: datetime) -> list[datetime]:
    """What the scheduler answered before: `after` called again from each occurrence."""
    rule = rrulestr(series.rrule, dtstart=series.starts.replace(tzinfo=None))
    found: list[datetime] = []
    start = rule.after(moment.astimezone(LONDON).replace(tzinfo=None) - timedelta(days=7), True)
    looked = 0
    while start is not None and looked < SEARCH_LIMIT:
        looked += 1
        placed = series._on_working_day(start)
        if placed is not None and (aware := placed.replace(tzinfo=LONDON)) > moment:
            if aware not in found:
                found.append(aware)
            if len(found) >= 3:
                break
        start = rule.after(start)
    return sorted(found)


def _walked_before(series: MeetingSeries, moment: datetime) -> datetime | None:
    rule = rrulestr(series.rrule, dtstart=series.starts.replace(tzinfo=None))
    before = rule.before(moment.astimezone(LONDON).replace(tzinfo=None))
    return before.replace(tzinfo=LONDON) if before is not None else None


RULES = [
    ("FREQ=WEEKLY;BYDAY=WE", "next_working_day"),
    ("FREQ=MONTHLY;INTERVAL=3;BYDAY=3TH", "next_working_day"),
    ("FREQ=WEEKLY;BYDAY=MO", "skip"),
    ("FREQ=DAILY", "keep"),  # 2,000 kept days end in 2031: later moments walk past them
    ("FREQ=WEEKLY;BYDAY=WE;COUNT=30", "next_working_day"),  # ends inside the kept occurrences
    ("FREQ=WEEKLY;BYDAY=FR;UNTIL=20400101T000000", "next_working_day"),
    (  # a set: two rules, a date taken out and one added
        "RRULE:FREQ=WEEKLY;BYDAY=WE\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1\n"
        "EXDATE:20261209T100000\nRDATE:20261211T100000",
        "next_working_day",
    ),
]


@pytest.mark.parametrize(("rule", "on_bank_holiday"), RULES)
def test_the_same_meetings_as_a_walk_of_the_rule(rule: str, on_bank_holiday: str) -> None:
    series = _series(rule, on_bank_holiday)
    chance = random.Random(rule)
    years = 10 if "DAILY" in rule else 20  # the plain walk to compare with is slow for a daily rule
    moments = [
        datetime(2025, 6, 1, tzinfo=LONDON)
        + timedelta(seconds=chance.randrange(86400 * 365 * years))
        for _ in range(40)
    ]
    # Each side of the last kept occurrence, an occurrence itself, and a century on.
    last = series._kept[-1].replace(tzinfo=LONDON)
    moments += [last - timedelta(seconds=1), last, last + timedelta(seconds=1)]
    moments += [datetime(2026, 1, 7, 10, 0, tzinfo=LONDON)]
    if "DAILY" not in rule:
        moments += [datetime(2150, 12, 20, tzinfo=LONDON)]
    for moment in moments:
        assert series.occurrences_after(moment) == _walked(series, moment), moment
        assert series.previous_before(moment) == _walked_before(series, moment), moment


def test_the_first_week_of_year_one_still_overflows_as_before() -> None:
    """tests/fault/test_consumer_fuzz.py turns this into a 404 at the API."""
    with pytest.raises(OverflowError):
        _series("FREQ=WEEKLY;BYDAY=WE").occurrences_after(datetime(1, 1, 3, tzinfo=LONDON))


def test_a_copy_with_another_rule_has_that_rule_s_meetings() -> None:
    wednesdays = _series("FREQ=WEEKLY;BYDAY=WE")
    moment = datetime(2026, 12, 1, 12, 0, tzinfo=LONDON)
    assert wednesdays.occurrences_after(moment)[0].weekday() == 2
    mondays = wednesdays.model_copy(update={"rrule": "FREQ=WEEKLY;BYDAY=MO"})
    assert mondays.occurrences_after(moment)[0].weekday() == 0
    once = wednesdays.model_copy(update={"rrule": "FREQ=WEEKLY;COUNT=1"})
    assert once.occurrences_after(moment) == []


def test_placing_an_item_does_not_walk_the_rule_again(monkeypatch: pytest.MonkeyPatch) -> None:
    series = _series("FREQ=WEEKLY;BYDAY=WE")
    assert len(series._kept) == KEPT_OCCURRENCES  # generated here, once

    def walked(*_: Any, **__: Any) -> Any:
        raise AssertionError("the rule was walked from the series' first meeting again")

    monkeypatch.setattr(rrule, "_iter", walked)
    for day in range(1, 400, 7):  # a referral a week for over a year
        received = datetime(2026, 11, 30, 9, 0, tzinfo=LONDON) + timedelta(days=day)
        assert place_item(series, received, urgent=False) is not None
    assert series.previous_before(datetime(2027, 3, 3, 10, 0, tzinfo=LONDON)) == datetime(
        2027, 2, 24, 10, 0, tzinfo=LONDON
    )


def test_a_far_date_is_walked_to_but_not_kept() -> None:
    """The API accepts meeting days up to 9999. A walk to a date five hundred years on gives
    the plain walk's answer and holds nothing afterwards: dateutil's own `cache=True` would keep
    its 26,000 occurrences, over a MB, for the life of the process."""
    series = _series("FREQ=WEEKLY;BYDAY=WE")
    far = datetime(2526, 1, 1, tzinfo=LONDON)
    # Made before the measurement: the kept occurrences, and that year's bank holidays (the
    # holidays package loads its calendars on first use: megabytes that are not the walk's).
    assert series._kept
    is_bank_holiday(far.date())
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        found = series.occurrences_after(far)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before - sum(sys.getsizeof(f) for f in found)
    finally:
        tracemalloc.stop()
    assert found == _walked(series, far)
    assert held < 200_000, f"{held:,} bytes held after one far walk"
