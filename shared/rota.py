"""People, channels and the rota, loaded from YAML; who is on duty is a pure decision.

The rota is a weekly pattern of shifts in wall-clock time (so BST/GMT changes need no special
case), where `bank_holiday` is a day of its own (an English bank holiday uses the shifts that list
it instead of its weekday's), plus dated overrides: `cover` (someone else is on duty) and `leave`
(the person is away; their shifts fall to the last resort unless someone covers).

Channel URLs are apprise URLs, by kind (sms, voice, email, chat), in order of preference.
Credentials never sit in the YAML: write `${VAR}` (or `${VAR:-default}`) and the value comes from
the environment, or `${file:/run/secrets/x}` for a secret file, when the file is loaded.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.redaction import safe_reason
from shared.safety import channel_problem
from shared.working_days import is_bank_holiday

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]
_NAME = re.compile(r"[A-Z0-9_]+")
LONDON = ZoneInfo("Europe/London")


class Role(StrEnum):
    ADVISOR = "advisor"
    HEAD_OF_SERVICE = "head_of_service"
    MEETING_COORDINATOR = "meeting_coordinator"
    CHILDRENS_SAFEGUARDING = "childrens_safeguarding"


class ChannelKind(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    CHAT = "chat"


class RotaError(ValueError):
    """The rota file is unusable; the message names the problem, never a secret."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Frozen):
    id: str
    role: Role
    channels: Annotated[dict[ChannelKind, str], Field(min_length=1)]

    def channel_order(self) -> tuple[ChannelKind, ...]:
        return tuple(self.channels)


def day_kind(day: date) -> str:
    """A bank holiday is its own kind of day; any other day is its weekday."""
    return "bank_holiday" if is_bank_holiday(day) else WEEKDAYS[day.weekday()]


class Shift(_Frozen):
    days: Annotated[tuple[Weekday, ...], Field(min_length=1)]
    start: time
    end: time  # end <= start means the shift runs past midnight into the next day
    person: str

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_time(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 20:00 as the number 1200 (base 60): refuse, do not guess.
        if isinstance(value, int | float):
            raise ValueError('write shift times in quotes, e.g. "20:00"')
        return value

    def covers(self, local: datetime) -> bool:
        today = day_kind(local.date())
        yesterday = day_kind(local.date() - timedelta(days=1))
        clock = local.time()
        if self.start < self.end:
            return today in self.days and self.start <= clock < self.end
        return (today in self.days and clock >= self.start) or (
            yesterday in self.days and clock < self.end
        )


class Override(_Frozen):
    """`cover`: `person` is on duty from `start` to `end` (London wall-clock times), whatever the
    weekly pattern says. `leave`: `person` is away; their shifts in that time are uncovered.

    On the last Sunday of October London's 01:00-02:00 happens twice. A time written with an
    offset names one of them (01:30+00:00 is the second) and keeps it, as `fold` 1 on the wall-clock
    time; a time written without one means the first (`fold` 0, as zoneinfo reads it)."""

    kind: Literal["cover", "leave"]
    person: str
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _london_wall_clock(cls, value: datetime) -> datetime:
        """London wall-clock time; `astimezone` sets `fold` on the second of a repeated hour and
        dropping the zone keeps it."""
        if value.tzinfo is not None:
            return value.astimezone(LONDON).replace(tzinfo=None)
        return value

    # Worked out once: every paging decision and every quarter hour of a gap search asks. An
    # override is never copied with changed times (`model_copy(update=…)` would keep this).
    @cached_property
    def _span(self) -> tuple[datetime, datetime]:
        return instant_of(self.start), instant_of(self.end)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether the wall-clock stretch `start`-`end` (as `start`/`end` here, `fold` counting)
        shares any instant with the override."""
        own_start, own_end = self._span
        return own_start < instant_of(end) and instant_of(start) < own_end

    def active(self, now: datetime) -> bool:
        """Whether the aware instant `now` falls in the override. Compared as instants: naive
        times, and aware ones sharing a zone, compare without their `fold`, so either would
        count 01:45 GMT as inside an override of 01:00-02:00 BST."""
        start, end = self._span
        return start <= now.astimezone(UTC) < end


def instant_of(wall_clock: datetime) -> datetime:
    """When London's wall clock shows `wall_clock` (its `fold` choosing in a repeated hour)."""
    at = wall_clock.replace(tzinfo=LONDON).astimezone(UTC)
    if at.astimezone(LONDON).replace(tzinfo=None) == wall_clock:
        return at
    # A time the clocks skip going forward (01:xx on the last Sunday of March): the wall clock
    # passes it at the change itself, as a wall-clock comparison has it. From the earlier reading
    # (fold 1 takes the offset after the change), minute by minute: an hour at most, then cached.
    # From the whole minute: the change falls on one, and 01:30:30 starts with it, not 30 s later.
    at = wall_clock.replace(fold=1, second=0, microsecond=0, tzinfo=LONDON).astimezone(UTC)
    while at.astimezone(LONDON).replace(tzinfo=None) < wall_clock:
        at += timedelta(minutes=1)
    return at


class Rota(_Frozen):
    timezone: str = "Europe/London"
    people: Annotated[tuple[Person, ...], Field(min_length=1)]
    weekly: tuple[Shift, ...] = ()
    overrides: tuple[Override, ...] = ()
    last_resort: str = Field(description="Who is alerted when no shift covers the time.")

    @model_validator(mode="after")
    def _people_exist(self) -> Rota:
        ids = {person.id for person in self.people}
        named = (
            {shift.person for shift in self.weekly}
            | {override.person for override in self.overrides}
            | {self.last_resort}
        )
        if unknown := named - ids:
            raise ValueError(f"rota names unknown people: {', '.join(sorted(unknown))}")
        return self

    def person(self, person_id: str) -> Person:
        return next(person for person in self.people if person.id == person_id)

    def with_role(self, role: Role) -> tuple[Person, ...]:
        return tuple(person for person in self.people if person.role is role)


def scheduled(rota: Rota, now: datetime) -> Person | None:
    """Who the rota puts on duty at `now`: a cover override first, then the first weekly shift
    covering the time whose person is not on leave. None is a gap."""
    local = now.astimezone(ZoneInfo(rota.timezone))
    for override in rota.overrides:
        if override.kind == "cover" and override.active(now):
            return rota.person(override.person)
    away = {o.person for o in rota.overrides if o.kind == "leave" and o.active(now)}
    for shift in rota.weekly:
        if shift.covers(local) and shift.person not in away:
            return rota.person(shift.person)
    return None


def on_duty(rota: Rota, now: datetime) -> Person:
    """The scheduled person, or the last-resort person in a gap: an alert always has a recipient."""
    return scheduled(rota, now) or rota.person(rota.last_resort)


def backups(rota: Rota, now: datetime) -> tuple[Person, ...]:
    """Advisors other than the one on duty and not on leave: the escalation's backup step."""
    away = {o.person for o in rota.overrides if o.kind == "leave" and o.active(now)}
    duty = on_duty(rota, now).id
    return tuple(
        person
        for person in rota.with_role(Role.ADVISOR)
        if person.id != duty and person.id not in away
    )


def find_gaps(
    rota: Rota, start: datetime, end: datetime, step: timedelta = timedelta(minutes=15)
) -> list[tuple[datetime, datetime]]:
    """Stretches between `start` and `end` that no shift or cover fills (sampled every `step`,
    which is finer than any shift boundary the rota format can express in practice)."""
    gaps: list[tuple[datetime, datetime]] = []
    # Sample on a fixed grid (multiples of `step` since the epoch), and trace a gap already open
    # at `start` back to where it began: a gap's start is then the same on every call, which
    # makes it a stable key for warning once.
    # Stepped in UTC: a step from a London-zoned time is wall-clock arithmetic, which never lands
    # in the second 01:xx of the night the clocks go back. Gaps are given in `start`'s zone.
    grid = step.total_seconds()
    moment = datetime.fromtimestamp((start.timestamp() // grid) * grid, UTC)
    earliest = moment - timedelta(days=7)
    while (
        moment > earliest
        and scheduled(rota, moment - step) is None
        and scheduled(rota, moment) is None
    ):
        moment -= step
    open_gap = None
    while moment < end:
        if scheduled(rota, moment) is None:
            open_gap = open_gap or moment
        elif open_gap is not None:
            gaps.append((open_gap.astimezone(start.tzinfo), moment.astimezone(start.tzinfo)))
            open_gap = None
        moment += step
    if open_gap is not None:
        gaps.append((open_gap.astimezone(start.tzinfo), end))
    return gaps


def duty_periods(
    rota: Rota, start: datetime, end: datetime, step: timedelta = timedelta(minutes=15)
) -> list[tuple[datetime, datetime, Person | None]]:
    """Who is scheduled from `start` to `end`, as consecutive periods; None marks a gap. Sampled
    every `step` like `find_gaps`, for people reading the rota (deploy.check, the console)."""
    periods: list[tuple[datetime, datetime, Person | None]] = []
    grid = step.total_seconds()
    moment = start
    while moment < end:
        person = scheduled(rota, moment)
        # Later samples sit on the grid (multiples of `step` since the epoch): shift boundaries.
        following = min(
            datetime.fromtimestamp((moment.timestamp() // grid + 1) * grid, moment.tzinfo), end
        )
        if periods and periods[-1][2] == person:
            periods[-1] = (periods[-1][0], following, person)
        else:
            periods.append((moment, following, person))
        moment = following
    return periods


# Who may be paged for an immediate alert (escalation steps, child alerts, the last resort): an
# e-mail read in the morning is not an immediate alert.
PAGED_ROLES = (Role.ADVISOR, Role.HEAD_OF_SERVICE, Role.CHILDRENS_SAFEGUARDING)
PHONE_CHANNELS = (ChannelKind.SMS, ChannelKind.VOICE)


def safety_problems(rota: Rota) -> list[str]:
    """Why this rota may not run outside dev and test: channels that are development stand-ins
    (shared/safety.py) and people paged for immediate alerts who can only be e-mailed. Each
    problem names the person and the channel kind, never the URL (it holds credentials)."""
    problems = []
    paged = {p.id for p in rota.people if p.role in PAGED_ROLES} | {rota.last_resort}
    for person in rota.people:
        for kind, url in person.channels.items():
            if reason := channel_problem(url):
                problems.append(f"{person.id}: {kind} channel: {reason}")
        if person.id in paged and not any(kind in person.channels for kind in PHONE_CHANNELS):
            problems.append(
                f"{person.id}: can be paged for an immediate alert but has no sms or voice channel"
            )
    return problems


def _expand(text: str, environ: dict[str, str]) -> str:
    """Shell-like `${VAR}` and `${VAR:-default}`; a default may hold references of its own and is
    only expanded when it is used."""
    out: list[str] = []
    position = 0
    while (start := text.find("${", position)) != -1:
        out.append(text[position:start])
        end = _closing_brace(text, start + 2)
        name, has_default, default = text[start + 2 : end].partition(":-")
        if not (_NAME.fullmatch(name) or name.startswith("file:/")):
            raise RotaError("a ${...} reference in the rota has an invalid variable name")
        if name.startswith("file:"):
            out.append(_read_secret_file(name.removeprefix("file:")))
        elif name in environ:
            out.append(environ[name])
        elif has_default:
            out.append(_expand(default, environ))
        else:
            raise RotaError(f"environment variable {name} is referenced by the rota but not set")
        position = end + 1
    out.append(text[position:])
    return "".join(out)


def _read_secret_file(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        raise RotaError(f"secret file {path} referenced by the rota cannot be read") from None


def _closing_brace(text: str, index: int) -> int:
    depth = 1
    while index < len(text):
        if text.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise RotaError("a ${ in the rota is never closed")


def load_rota(path: Path, environ: dict[str, str] | None = None) -> Rota:
    environ = dict(os.environ) if environ is None else environ
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        raise RotaError(f"{path.name} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise RotaError(f"{path.name} must be a mapping with people, weekly and last_resort")
    for person in raw.get("people", []):
        channels = person.get("channels") or {}
        if isinstance(channels, dict):
            expanded = {kind: _expand(str(url), environ) for kind, url in channels.items()}
            person["channels"] = {kind: url for kind, url in expanded.items() if url}
    try:
        return Rota.model_validate(raw)
    except ValidationError as error:
        # pydantic's own text quotes the (expanded) values: channel URLs hold credentials.
        raise RotaError(f"{path.name}: {safe_reason(error, own_input=True)}") from None
