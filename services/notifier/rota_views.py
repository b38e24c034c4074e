"""The rota as people read it: who is on duty now and next, and day by day who holds each stretch,
where the gaps are and which leave and cover apply. Pure, with an explicit `now`, and built only
from shared/rota.py's own decisions (`on_duty`, `duty_periods`, `find_gaps`) on the rota the
notifier pages from, so what the console shows is what the notifier does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal

from services.notifier.rota_changes import RotaChange, as_london
from shared.clock import LONDON
from shared.rota import Override, Person, Rota, duty_periods, find_gaps, on_duty

LOOK_BACK = timedelta(days=7)  # how far back a duty's start is traced
LOOK_AHEAD = timedelta(days=14)  # how far ahead the next change of duty is looked for


@dataclass(frozen=True)
class Duty:
    """Who is paged from `start` to `end`. `gap`: no shift or cover holds it, so the last resort
    is paged. A None bound lies beyond the stretch looked at (LOOK_BACK, LOOK_AHEAD)."""

    person: Person
    gap: bool
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    person: Person | None  # None: a gap (the last resort is paged)


@dataclass(frozen=True)
class ChangeInForce:
    id: int | None  # None: from the rota file, which the console cannot remove
    source: Literal["console", "file"]
    kind: str
    person_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class DayView:
    day: date
    periods: tuple[Period, ...]
    gaps: tuple[tuple[datetime, datetime], ...]
    changes: tuple[ChangeInForce, ...]


def now_and_next(rota: Rota, now: datetime) -> tuple[Duty, Duty | None]:
    """Who the notifier would page now, since when and until when, and who follows (None if the
    duty does not change within LOOK_AHEAD)."""
    periods = duty_periods(rota, now - LOOK_BACK, now + LOOK_AHEAD)
    index = next(i for i, period in enumerate(periods) if period[0] <= now < period[1])
    last = len(periods) - 1

    def duty(i: int) -> Duty:
        start, end, person = periods[i]
        return Duty(
            person=person or rota.person(rota.last_resort),
            gap=person is None,
            start=start.astimezone(LONDON) if i > 0 else None,
            end=end.astimezone(LONDON) if i < last else None,
        )

    # Who is paged now is the notifier's own decision at `now`; the periods, sampled on the
    # quarter-hour grid every rota time lies on, give its bounds and what follows.
    current = replace(duty(index), person=on_duty(rota, now))
    return current, duty(index + 1) if index < last else None


def days_view(
    rota: Rota,
    first: date,
    days: int,
    stored: Sequence[RotaChange],
    file_overrides: Sequence[Override],
) -> list[DayView]:
    """London days from `first`: duty periods and gaps cut at midnight, and the changes (stored
    and from the file) in force on each day."""
    start = _midnight(first)
    end = _midnight(first + timedelta(days=days))
    periods = [Period(*period) for period in duty_periods(rota, start, end)]
    gaps = [(max(a, start), min(b, end)) for a, b in find_gaps(rota, start, end)]
    changes = [
        *(ChangeInForce(c.id, "console", c.kind, c.person_id, as_london(c.starts), as_london(c.ends))
          for c in stored),
        *(ChangeInForce(None, "file", o.kind, o.person, as_london(o.start), as_london(o.end))
          for o in file_overrides),
    ]  # fmt: skip
    views = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        opens, closes = _midnight(day), _midnight(day + timedelta(days=1))
        views.append(
            DayView(
                day=day,
                periods=tuple(
                    Period(max(p.start, opens), min(p.end, closes), p.person)
                    for p in periods
                    if p.start < closes and opens < p.end
                ),
                gaps=tuple(
                    (max(a, opens), min(b, closes)) for a, b in gaps if a < closes and opens < b
                ),
                changes=tuple(c for c in changes if c.starts_at < closes and opens < c.ends_at),
            )
        )
    return views


def _midnight(day: date) -> datetime:
    """London midnight: it always exists (the clocks change at 01:00 and 02:00)."""
    return datetime.combine(day, time(0), tzinfo=LONDON)
