"""Meeting series from configuration and the pure choice of which meeting an item goes to."""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from dateutil.rrule import rrule as Rule
from dateutil.rrule import rruleset as RuleSet
from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field

from shared.clock import LONDON
from shared.working_days import is_bank_holiday, is_working_day, subtract_working_days

SEARCH_LIMIT = 200  # occurrences looked at before giving up (about four years of weekly meetings)
# Occurrences of a series kept in memory from its first meeting: 38 years of weekly meetings, about
# 100 KB. Later moments are walked to without being kept (the API answers 404 for a meeting day
# more than five years ahead before walking; nothing in a series itself bounds a walk).
KEPT_OCCURRENCES = 2000


class MeetingKind(StrEnum):
    CASE_PANEL = "case_panel"
    NASN = "nasn"


@lru_cache(maxsize=32)
def _parsed(rule: str, starts: datetime) -> tuple[Rule | RuleSet, tuple[datetime, ...]]:
    """A series' rule and its first KEPT_OCCURRENCES occurrences, made once for each rule and
    first meeting. Each referral places its item from `now`, and a walk of the rule always starts
    at the series' first meeting, so without these every placement walked the whole history again,
    costing more the older the series (`python -m bench.profile` put those walks at 8 % of the
    scheduler's CPU in late 2026). Kept here rather than on the model, which `model_copy` would
    copy with a changed rule. Not dateutil's `cache=True`: it keeps whatever was walked, so one
    walk to a meeting day in 9999 would hold 400,000 weekly occurrences for good."""
    parsed = rrulestr(rule, dtstart=starts)
    return parsed, tuple(itertools.islice(parsed, KEPT_OCCURRENCES))


class MeetingSeries(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    kind: MeetingKind
    title: str
    starts: datetime = Field(description="First occurrence, local wall-clock time (no offset).")
    rrule: str
    duration_minutes: Annotated[int, Field(gt=0, le=24 * 60)]
    location: str
    cutoff_working_days: Annotated[int, Field(ge=1, le=20)]
    cutoff_time: time
    on_bank_holiday: Literal["next_working_day", "skip", "keep"] = "next_working_day"
    publish_before_hours: Annotated[float, Field(gt=0, le=24 * 14)] = 48
    recipients: tuple[str, ...] = Field(
        default=("meeting_coordinator",),
        description="Who receives the published agenda: roles (meeting_coordinator, "
        "head_of_service, on_duty) or person:<rota id>.",
    )
    chair: Annotated[str, Field(min_length=1, max_length=120)] = "Modern Slavery Advisor"
    members: tuple[Annotated[str, Field(min_length=1, max_length=120)], ...] = Field(
        default=(),
        max_length=40,
        description="Organisations or roles invited to the meeting: the attendance register "
        "of each meeting starts from this list.",
    )

    def occurrences_after(self, moment: datetime) -> list[datetime]:
        """Upcoming starts as aware London datetimes. The rule runs on naive wall-clock times and
        each result is then placed in Europe/London, so DST never shifts a meeting's hour. A
        meeting falling on an English bank holiday moves to the next working day (same time), is
        skipped, or kept, as the series says."""
        local_moment = moment.astimezone(LONDON).replace(tzinfo=None) - timedelta(days=7)
        found: list[datetime] = []
        for start in itertools.islice(self._from(local_moment), SEARCH_LIMIT):
            placed = self._on_working_day(start)
            # Two occurrences may move onto one day (Fri 25 and Mon 28 Dec onto Tue 29): count
            # distinct meetings only.
            if placed is not None and placed.replace(tzinfo=LONDON) > moment:
                aware = placed.replace(tzinfo=LONDON)
                if aware not in found:
                    found.append(aware)
                if len(found) >= 3:
                    break
        return sorted(found)

    @property
    def _rule(self) -> Rule | RuleSet:
        """The rule, parsed once for the series, on naive wall-clock times."""
        return _parsed(self.rrule, self.starts.replace(tzinfo=None))[0]

    @property
    def _kept(self) -> tuple[datetime, ...]:
        """The series' first occurrences, generated once (`_parsed`)."""
        return _parsed(self.rrule, self.starts.replace(tzinfo=None))[1]

    def _complete(self) -> bool:
        """The rule ends within the kept occurrences (a COUNT or UNTIL): they are all of them."""
        return len(self._kept) < KEPT_OCCURRENCES

    def _from(self, local: datetime) -> Iterator[datetime]:
        """Occurrences at or after `local` (naive wall-clock), in order."""
        kept = self._kept
        at = bisect_left(kept, local)
        if at < len(kept):
            for index in range(at, len(kept)):  # not a slice: that would copy up to 2,000 items
                yield kept[index]
            if not self._complete():
                yield from self._rule.xafter(kept[-1], inc=False)
        elif not self._complete():
            yield from self._rule.xafter(local, inc=True)

    def _on_working_day(self, local: datetime) -> datetime | None:
        if self.on_bank_holiday == "keep" or not is_bank_holiday(local.date()):
            return local
        if self.on_bank_holiday == "skip":
            return None
        day = local.date()
        while not is_working_day(day):
            day += timedelta(days=1)
        return datetime.combine(day, local.time())

    def previous_before(self, starts_at: datetime) -> datetime | None:
        """The series' occurrence before `starts_at` (by the rule), for a period's start."""
        local = starts_at.astimezone(LONDON).replace(tzinfo=None)
        kept = self._kept
        if (at := bisect_left(kept, local)) < len(kept) or self._complete():
            before = kept[at - 1] if at else None
        else:
            before = self._rule.before(local)
        return before.replace(tzinfo=LONDON) if before is not None else None

    def publish_at(self, starts_at: datetime) -> datetime:
        return starts_at - timedelta(hours=self.publish_before_hours)

    def cutoff_for(self, starts_at: datetime) -> datetime:
        day = subtract_working_days(starts_at.astimezone(LONDON).date(), self.cutoff_working_days)
        return datetime.combine(day, self.cutoff_time, tzinfo=LONDON)


class Placement(BaseModel):
    model_config = ConfigDict(frozen=True)

    series_id: str
    starts_at: datetime
    late: bool


def place_item(series: MeetingSeries, received_at: datetime, urgent: bool) -> Placement | None:
    """The next meeting whose cut-off has not passed; an urgent item may join the very next
    meeting after its cut-off, flagged as late."""
    upcoming = series.occurrences_after(received_at)
    if not upcoming:
        return None
    first = upcoming[0]
    if received_at < series.cutoff_for(first):
        return Placement(series_id=series.id, starts_at=first, late=False)
    if urgent:
        return Placement(series_id=series.id, starts_at=first, late=True)
    for later in upcoming[1:]:
        if received_at < series.cutoff_for(later):
            return Placement(series_id=series.id, starts_at=later, late=False)
    return None


class TrainingSeries(BaseModel):
    """Training and awareness sessions for front-line professionals: a series of its own, with no
    case items and no agenda, held on dates recorded through the API (services/meeting_scheduler/
    training.py), counted against the funder's target ("at least 3 in 3 years")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")] = "training"
    kind: Literal["training"] = "training"
    title: Annotated[str, Field(min_length=1, max_length=120)] = "Training and awareness sessions"
    project_starts: date = Field(description="The funded project's first day (London date).")
    period_years: Annotated[int, Field(ge=1, le=10)] = 3
    target: Annotated[int, Field(ge=1, le=1000)] = 3


class MeetingCalendar(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    series: tuple[MeetingSeries, ...]
    training: TrainingSeries | None = Field(
        default=None, description="Training sessions and their target; none: not tracked."
    )

    def case_panel(self) -> MeetingSeries:
        return next(item for item in self.series if item.kind is MeetingKind.CASE_PANEL)


def load_calendar(path: Path) -> MeetingCalendar:
    return MeetingCalendar.model_validate(yaml.safe_load(path.read_text()))
