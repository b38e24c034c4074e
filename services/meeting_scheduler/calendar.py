"""Meeting series from configuration and the pure choice of which meeting an item goes to."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field

from shared.clock import LONDON
from shared.working_days import is_bank_holiday, is_working_day, subtract_working_days

SEARCH_LIMIT = 200  # occurrences looked at before giving up (about four years of weekly meetings)


class MeetingKind(StrEnum):
    CASE_PANEL = "case_panel"
    NASN = "nasn"


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
        rule = rrulestr(self.rrule, dtstart=self.starts.replace(tzinfo=None))
        local_moment = moment.astimezone(LONDON).replace(tzinfo=None) - timedelta(days=7)
        found: list[datetime] = []
        start = rule.after(local_moment, inc=True)
        looked = 0
        while start is not None and looked < SEARCH_LIMIT:
            looked += 1
            placed = self._on_working_day(start)
            # Two occurrences may move onto one day (Fri 25 and Mon 28 Dec onto Tue 29): count
            # distinct meetings only.
            if placed is not None and placed.replace(tzinfo=LONDON) > moment:
                aware = placed.replace(tzinfo=LONDON)
                if aware not in found:
                    found.append(aware)
                if len(found) >= 3:
                    break
            start = rule.after(start)
        return sorted(found)

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
        rule = rrulestr(self.rrule, dtstart=self.starts.replace(tzinfo=None))
        before = rule.before(starts_at.astimezone(LONDON).replace(tzinfo=None))
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
