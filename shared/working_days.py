"""Working days in England: Monday to Friday except English bank holidays, in Europe/London."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from shared.clock import LONDON


@lru_cache(maxsize=32)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def warm_up(today: date) -> None:
    """Compute this year's and next year's bank holidays now. The holidays package takes a few
    hundred milliseconds the first time (profiled under load: `python -m bench.profile`); at
    start-up that costs nothing, on the first police contact of the day it delays the alert."""
    for year in (today.year, today.year + 1):
        _bank_holidays(year)


def is_bank_holiday(day: date) -> bool:
    return day in _bank_holidays(day.year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


def add_working_days(day: date, count: int) -> date:
    """The `count`-th working day after `day` (count ≥ 1)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    while count:
        day += timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day


def end_of_working_day(start: datetime, count: int, closes_at: time) -> datetime:
    """`closes_at` London time on the `count`-th working day after the London date of `start`."""
    due_day = add_working_days(start.astimezone(LONDON).date(), count)
    return datetime.combine(due_day, closes_at, tzinfo=LONDON)


def subtract_working_days(day: date, count: int) -> date:
    """The `count`-th working day before `day` (count ≥ 1)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    while count:
        day -= timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day
