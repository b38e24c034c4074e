"""Leave and cover read from an iCalendar calendar (RFC 5545), and what importing it changes: pure
decisions with an explicit `now`, no I/O (services/notifier/rota_import.py stores the result).

The convention a head of service follows in their own calendar application:

- An event whose title (SUMMARY) starts with the word **Leave** or **Cover**, followed by a rota
  person id, is a rota change for that person: `Leave advisor-a`, `Cover: advisor-b`,
  `leave - advisor-a (dentist)`. Anything after the person id is ignored (and never stored or
  logged). Every other event in the calendar is ignored, so a working calendar can be used as it is.
- An all-day event covers whole London days (midnight to midnight; several days if it spans
  them). A timed event is converted to London wall-clock time, the rota's time (shared/rota.py):
  from its TZID, from UTC (`Z`), or taken as London time when it has neither (a "floating" time).
  Times must be on the quarter hour, as for changes added by hand.
- A recurring event (RRULE, RDATE, EXDATE, moved occurrences) is expanded over a window from now
  (by default the next 60 days); an occurrence under way now is included.
- An event with STATUS:CANCELLED, or deleted from the calendar, removes the change it made. A
  moved event updates it. Importing the same calendar again changes nothing.
- An event the import cannot take (no person id, a person not on the rota, times off the quarter
  hour, a clash with other leave or cover) is reported by its UID with the reason, and the rota
  keeps whatever that event had put on it before: a typo never silently drops someone's cover.

Each calendar has a source label (default "calendar"); an import compares the calendar with the
changes earlier imports of the same label made, and touches nothing else: a change added by hand
through the API, or imported under another label, is never changed or removed by it. A change
imported and then removed by hand stays removed while its event is unchanged.

Reports name an event by its UID (when it looks like a generated identifier, else by its position
in the file) and give a fixed reason: a title, description or location can hold a name, so no
calendar text is echoed, stored or logged; the database keeps a SHA-256 of the UID.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from services.notifier.rota_changes import (
    ChangeKind,
    ChangeRefused,
    check_change,
    london_wall_clock,
)
from shared.clock import LONDON
from shared.rota import Override, Rota

DEFAULT_WINDOW = timedelta(days=60)
DEFAULT_SOURCE = "calendar"
SOURCE_LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
MAX_OCCURRENCES = 2000  # in one import's window: beyond it the calendar is not a rota
_TITLE = re.compile(r"^\s*(leave|cover)\b[\s:–—-]*(\S*)", re.IGNORECASE)
_PERSON = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_SHOWN_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9@._:+/=-]{0,119}")
_SERIES = ("RRULE", "RDATE", "RECURRENCE-ID")


class CalendarUnreadable(ValueError):
    """The text is not an iCalendar calendar at all; the message quotes none of it."""


@dataclass(frozen=True)
class CalendarChange:
    """One occurrence of a leave or cover event, in London wall-clock time."""

    label: str  # how reports name the event: its UID, or its position in the file
    uid_hash: str
    occurrence: str  # "" for a single event; the occurrence's original start in a series
    kind: ChangeKind
    person_id: str
    starts: datetime
    ends: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.uid_hash, self.occurrence)

    def as_override(self) -> Override:
        return Override(kind=self.kind, person=self.person_id, start=self.starts, end=self.ends)


@dataclass(frozen=True)
class EventProblem:
    label: str
    message: str
    uid_hash: str | None = None  # None: the event has no UID (nothing of its can be tracked)


@dataclass(frozen=True)
class CalendarReading:
    changes: tuple[CalendarChange, ...]
    problems: tuple[EventProblem, ...]
    ignored: int  # events that are not leave or cover (or were cancelled)


@dataclass(frozen=True)
class ImportedChange:
    """A live change an earlier import of the same source made (rota_changes row)."""

    id: int
    uid_hash: str
    occurrence: str
    kind: ChangeKind
    person_id: str
    starts: datetime
    ends: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.uid_hash, self.occurrence)


# uid, occurrence, kind, person, times and their `fold`: naive times compare without it, and an
# event moved from the first 01:30 of the night the clocks go back to the second is a change.
Fingerprint = tuple[str, str, str, str, datetime, datetime, int, int]


def fingerprint(change: CalendarChange | ImportedChange) -> Fingerprint:
    return (change.uid_hash, change.occurrence, change.kind, change.person_id, change.starts,
            change.ends, change.starts.fold, change.ends.fold)  # fmt: skip


@dataclass(frozen=True)
class ImportPlan:
    add: tuple[CalendarChange, ...]
    update: tuple[tuple[ImportedChange, CalendarChange], ...]
    remove: tuple[ImportedChange, ...]
    unchanged: int
    ignored: int
    problems: tuple[EventProblem, ...]
    kept_removed: int = 0  # removed by hand, and the event is as it was then


def uid_hash(uid: str) -> str:
    return hashlib.sha256(uid.encode()).hexdigest()


def read_calendar(
    text: str | bytes, rota: Rota, now: datetime, window: timedelta = DEFAULT_WINDOW
) -> CalendarReading:
    """The leave and cover in `text` from `now` to `now + window` (occurrences under way at `now`
    included). Raises CalendarUnreadable if the text is no calendar at all; anything wrong with
    one event is one EventProblem and the other events are still read."""
    import icalendar  # when first needed, as in _expand

    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except (ValueError, IndexError, KeyError, TypeError):
        raise CalendarUnreadable("the text is not an iCalendar calendar") from None
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise CalendarUnreadable("the text must hold exactly one VCALENDAR")
    calendar = calendars[0]
    people = {person.id for person in rota.people}
    changes: list[CalendarChange] = []
    problems: list[EventProblem] = []
    ignored = 0
    # Each UID (an event with its moved occurrences) is expanded on its own, so one broken event
    # is reported by its UID without hiding the others.
    by_uid: dict[str, list[Any]] = {}
    for position, event in enumerate(calendar.walk("VEVENT"), start=1):
        uid = str(event.get("UID", "")).strip()
        if not uid:
            problems.append(EventProblem(f"event #{position}", "it has no UID"))
            continue
        by_uid.setdefault(uid, []).append((position, event))
    timezones = calendar.walk("VTIMEZONE")
    start, end = now, now + window
    for uid, events in by_uid.items():
        label = uid if _SHOWN_UID.fullmatch(uid) else f"event #{events[0][0]} (UID not shown)"
        hashed = uid_hash(uid)
        titles = {_title(event) for _, event in events}
        if all(title is None for title in titles):
            ignored += len(events)
            continue
        single = not any(name in event for _, event in events for name in _SERIES)
        if single and len(events) > 1:
            problems.append(EventProblem(label, "more than one event has this UID", hashed))
            continue
        try:
            occurrences = _expand(events, timezones, start, end)
        except Exception:  # noqa: BLE001 - any broken property: report the UID, read the rest
            problems.append(EventProblem(label, "its dates or recurrence cannot be read", hashed))
            continue
        seen: set[str] = set()
        found: list[CalendarChange] = []
        problem = None
        for occurrence in occurrences:
            title = _title(occurrence)
            if title is None or str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
                ignored += 1
                continue
            kind, person = title
            if not _PERSON.fullmatch(person):
                problem = f"the title must name a rota person id after {kind.capitalize()}"
                break
            if person not in people:
                problem = "the person id after Leave or Cover is nobody on the rota"
                break
            try:
                starts, ends = _wall_clock(occurrence.start), _wall_clock(occurrence.end)
                recurrence = "" if single else _occurrence_id(occurrence)
            except Exception:  # noqa: BLE001
                problem = "its dates cannot be read"
                break
            if recurrence not in seen:
                seen.add(recurrence)
                found.append(CalendarChange(label, hashed, recurrence, kind, person, starts, ends))
        if problem is not None:  # nothing of a UID not understood is taken
            problems.append(EventProblem(label, problem, hashed))
            continue
        changes += found
        if len(changes) > MAX_OCCURRENCES:
            raise CalendarUnreadable(
                f"the calendar has more than {MAX_OCCURRENCES} leave and cover occurrences in "
                f"the next {window.days} days"
            )
    return CalendarReading(tuple(changes), tuple(problems), ignored)


def plan_import(
    reading: CalendarReading,
    imported: Sequence[ImportedChange],
    removed_by_hand: frozenset[Fingerprint],
    others: Rota,
    now: datetime,
) -> ImportPlan:
    """What importing `reading` changes. `imported`: the live changes earlier imports of the same
    source made that are not over at `now`; `removed_by_hand`: those a person removed; `others`:
    the rota file with every stored change but this source's merged in."""
    current = {change.key: change for change in imported}
    wanted = {change.key: change for change in reading.changes}
    not_understood = {problem.uid_hash for problem in reading.problems if problem.uid_hash}
    remove = [
        change
        for key, change in current.items()
        if key not in wanted and change.uid_hash not in not_understood
    ]
    replaced = {change.id for change in remove} | {
        current[key].id
        for key, change in wanted.items()
        if key in current and fingerprint(current[key]) != fingerprint(change)
    }
    # Checked against the rota with this source's changes that stay, and with each change of
    # this import as it is accepted (a leave here clashes with a cover here too).
    checking = others
    for staying in imported:
        if staying.id not in replaced:
            checking = _with(checking, _override(staying))
    add: list[CalendarChange] = []
    update: list[tuple[ImportedChange, CalendarChange]] = []
    problems = list(reading.problems)
    unchanged = kept_removed = 0
    for change in sorted(reading.changes, key=lambda c: (c.starts, c.uid_hash, c.occurrence)):
        old = current.get(change.key)
        if old is not None and fingerprint(old) == fingerprint(change):
            unchanged += 1
            continue
        if old is None and fingerprint(change) in removed_by_hand:
            kept_removed += 1
            continue
        try:
            check_change(checking, change.kind, change.person_id, change.starts, change.ends, now)
        except ChangeRefused as refused:
            problems.append(EventProblem(change.label, str(refused), change.uid_hash))
            if old is not None:  # the rota keeps what this event put on it before
                checking = _with(checking, _override(old))
            continue
        if old is None:
            add.append(change)
        else:
            update.append((old, change))
        checking = _with(checking, change.as_override())
    return ImportPlan(
        add=tuple(add), update=tuple(update), remove=tuple(remove), unchanged=unchanged,
        ignored=reading.ignored, problems=tuple(problems), kept_removed=kept_removed,
    )  # fmt: skip


def _title(event: Any) -> tuple[ChangeKind, str] | None:
    match = _TITLE.match(str(event.get("SUMMARY", "")))
    if match is None:
        return None
    kind: ChangeKind = "leave" if match.group(1).lower() == "leave" else "cover"
    return kind, match.group(2).rstrip(",.;:")


def _expand(events: list[Any], timezones: list[Any], start: datetime, end: datetime) -> list[Any]:
    # Imported here, not with this module: icalendar and recurring_ical_events are 131 modules
    # and 4.5 MB of the notifier's memory, and most deployments never import a calendar (no
    # feed configured, no upload). The first import pays about 0.1 s once.
    import icalendar
    import recurring_ical_events

    single = icalendar.Calendar()
    for timezone in timezones:
        single.add_component(timezone)
    for _, event in events:
        single.add_component(event)
    found = []
    for occurrence in recurring_ical_events.of(single).between(start, end):
        found.append(occurrence)
        if len(found) > MAX_OCCURRENCES:
            break
    return found


def _wall_clock(moment: date | datetime) -> datetime:
    """An all-day date is London midnight; a time with a zone is converted to London wall-clock;
    a floating time already is London wall-clock."""
    if not isinstance(moment, datetime):
        return datetime.combine(moment, time(0))
    return london_wall_clock(moment)


def _occurrence_id(occurrence: Any) -> str:
    """The occurrence's original start (its RECURRENCE-ID): the same when it is moved."""
    original = occurrence.get("RECURRENCE-ID")
    moment = original.dt if original is not None else occurrence.start
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(LONDON).isoformat()
    return str(moment.isoformat())


def _override(change: ImportedChange) -> Override:
    return Override(kind=change.kind, person=change.person_id, start=change.starts, end=change.ends)


def _with(rota: Rota, override: Override) -> Rota:
    return rota.model_copy(update={"overrides": (override, *rota.overrides)})
