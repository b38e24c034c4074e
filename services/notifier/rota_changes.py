"""Leave and cover that staff add from the console: pure decisions, with an explicit `now`.

A stored change means exactly what a dated override in the rota file means (shared/rota.py):
times are London wall-clock, `cover` puts the person on duty whatever the weekly pattern says,
`leave` takes them off it (their shifts fall to the last resort unless someone covers). The
notifier merges the stored changes into the file's rota before every paging decision
(services/notifier/rota_book.py), so the file is no longer the only way to arrange cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.clock import LONDON
from shared.rota import Override, Role, Rota

ChangeKind = Literal["leave", "cover"]

# Far enough ahead for a year's leave booked early; beyond it an entry is more likely a typo.
FURTHEST_AHEAD = timedelta(days=400)
# Who may cover a duty: the people the duty pages. A meeting coordinator or the children's
# safeguarding contact is not the advisor on duty.
COVERING_ROLES = frozenset({Role.ADVISOR, Role.HEAD_OF_SERVICE})


@dataclass(frozen=True)
class RotaChange:
    """A stored change. `starts`/`ends` are naive London wall-clock times, as in the rota file."""

    id: int
    kind: ChangeKind
    person_id: str
    starts: datetime
    ends: datetime
    created_by: str
    created_at: datetime
    # The calendar it was imported from (services/notifier/rota_calendar.py); None: by hand.
    source: str | None = None

    def as_override(self) -> Override:
        return Override(kind=self.kind, person=self.person_id, start=self.starts, end=self.ends)


class ChangeRefused(ValueError):
    """Why a change cannot be stored; `conflict` marks a clash with the rota as it stands (409),
    otherwise the change itself is invalid (422). The message names people and times only."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def london_wall_clock(moment: datetime) -> datetime:
    """An aware time as London wall-clock; a naive one is taken to be London wall-clock already
    (the rota file's rule, shared.rota.Override)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(LONDON).replace(tzinfo=None)


def as_london(wall_clock: datetime) -> datetime:
    """A stored wall-clock time as an aware London time, for the API."""
    return wall_clock.replace(tzinfo=LONDON)


def check_change(
    rota: Rota, kind: ChangeKind, person_id: str, starts: datetime, ends: datetime, now: datetime
) -> None:
    """Refuse a change that could not work. `rota` is the one the notifier pages from (file and
    stored changes merged); `starts`/`ends` are London wall-clock."""
    person = next((p for p in rota.people if p.id == person_id), None)
    if person is None:
        raise ChangeRefused("person_id is nobody on the rota")  # not echoed: any text may come
    if any(moment.minute % 15 or moment.second or moment.microsecond for moment in (starts, ends)):
        # The rota's gaps and duty periods are sampled every quarter hour (shared.rota.find_gaps):
        # a change between the marks would page someone the rota views and warnings do not show.
        raise ChangeRefused("starts_at and ends_at must be on the quarter hour (London time)")
    if any(moment.fold for moment in (starts, ends)):
        # `fold` 1 is the second 01:xx of the night the clocks go back (shared.rota.Override). A
        # change is stored as wall-clock time, which reads back as the first: refused, not moved.
        raise ChangeRefused(
            "starts_at and ends_at may not fall in the second 01:00-02:00 of the night the clocks "
            "go back: a stored change keeps London wall-clock time, which cannot tell the two "
            "apart; use the rota file, where an override may give its offset"
        )
    if ends <= starts:
        raise ChangeRefused("ends_at must be after starts_at")
    local_now = london_wall_clock(now)
    if ends <= local_now:
        raise ChangeRefused("the change would be over already")
    if ends > local_now + FURTHEST_AHEAD:
        raise ChangeRefused(f"a change may end at most {FURTHEST_AHEAD.days} days ahead")
    if kind == "cover" and person.role not in COVERING_ROLES:
        raise ChangeRefused(
            f"{person_id} is a {person.role.value}: cover is by an advisor or the head of service"
        )
    # A cover by someone on leave would page a person who is away (a cover wins over leave in
    # shared.rota.scheduled), and a leave over someone's cover would be silently ignored: either
    # way the rota would say one thing and page another.
    clashing = "leave" if kind == "cover" else "cover"
    for override in rota.overrides:
        same = override.kind == clashing and override.person == person_id
        if same and override.overlaps(starts, ends):
            raise ChangeRefused(
                f"{person_id} has {clashing} from {override.start:%Y-%m-%d %H:%M} to "
                f"{override.end:%Y-%m-%d %H:%M} (London): remove it first",
                conflict=True,
            )


def merged(file_rota: Rota, changes: Sequence[RotaChange]) -> Rota:
    """The rota to page from: stored changes, newest first, ahead of the file's overrides, so the
    latest decision wins where two covers overlap (shared.rota.scheduled takes the first active
    cover). A stored change naming someone no longer in the file is left out: paging must never
    look up a person who is not there."""
    people = {person.id for person in file_rota.people}
    stored = tuple(
        change.as_override()
        for change in sorted(changes, key=lambda change: change.id, reverse=True)
        if change.person_id in people
    )
    if not stored:
        return file_rota
    return file_rota.model_copy(update={"overrides": (*stored, *file_rota.overrides)})
