"""Pure decisions on safeguarding paths that had no test: who is on duty when someone on leave is
covered, when covers overlap and in the autumn hour that happens twice; how a rota gap keeps the
same start however often it is checked (what makes "warn once per gap" possible); and which task
status changes casework allows. Expected values are written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from services.casework.lifecycle import Change, Status, TransitionRefused, check_transition
from shared.clock import LONDON
from shared.rota import Rota, backups, find_gaps, on_duty, scheduled

EVERY_DAY = "[mon, tue, wed, thu, fri, sat, sun, bank_holiday]"
PEOPLE = """
people:
  - {id: day, role: advisor, channels: {email: 'json://localhost/day'}}
  - {id: night, role: advisor, channels: {email: 'json://localhost/night'}}
  - {id: spare, role: advisor, channels: {email: 'json://localhost/spare'}}
  - {id: locum, role: advisor, channels: {email: 'json://localhost/locum'}}
  - {id: boss, role: head_of_service, channels: {email: 'json://localhost/boss'}}
last_resort: boss
"""


def _rota(weekly: str, overrides: str = "") -> Rota:
    text = f"{PEOPLE}weekly:\n{weekly}overrides:\n{overrides or '  []'}\n"
    return Rota.model_validate(yaml.safe_load(text))


def _london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _who(rota: Rota, moment: datetime) -> str | None:
    person = scheduled(rota, moment)
    return person.id if person else None


DAY_AND_NIGHT = f"""\
  - {{days: {EVERY_DAY}, start: '08:00', end: '20:00', person: day}}
  - {{days: {EVERY_DAY}, start: '20:00', end: '08:00', person: night}}
"""

# --- Cover for someone on leave -------------------------------------------------------------

# `day` is away Thursday 11 and Friday 12 June 2026; `spare` covers Thursday's day shift only.
LEAVE_WITH_COVER = """\
  - {kind: leave, person: day, start: '2026-06-11T00:00', end: '2026-06-13T00:00'}
  - {kind: cover, person: spare, start: '2026-06-11T08:00', end: '2026-06-11T20:00'}
"""


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        pytest.param("2026-06-11T07:59", "night", id="thu_night_shift_before_the_cover"),
        pytest.param("2026-06-11T08:00", "spare", id="cover_starts_with_the_day_shift"),
        pytest.param("2026-06-11T19:59", "spare", id="cover_last_minute"),
        pytest.param("2026-06-11T20:00", "night", id="night_shift_unaffected_by_the_leave"),
        pytest.param("2026-06-12T08:00", None, id="fri_leave_without_cover_is_a_gap"),
        pytest.param("2026-06-12T19:59", None, id="fri_gap_last_minute"),
        pytest.param("2026-06-13T08:00", "day", id="back_from_leave"),
    ],
)
def test_cover_for_someone_on_leave(local: str, expected: str | None) -> None:
    rota = _rota(DAY_AND_NIGHT, LEAVE_WITH_COVER)
    assert _who(rota, _london(local)) == expected
    assert on_duty(rota, _london(local)).id == (expected or "boss")


def test_the_person_on_leave_is_no_backup_while_covered() -> None:
    rota = _rota(DAY_AND_NIGHT, LEAVE_WITH_COVER)
    # spare on duty; day away; night and locum can back up.
    assert [p.id for p in backups(rota, _london("2026-06-11T12:00"))] == ["night", "locum"]
    # back from leave, day on duty: the others are the backups.
    assert [p.id for p in backups(rota, _london("2026-06-13T12:00"))] == [
        "night",
        "spare",
        "locum",
    ]


# --- Overlapping covers ---------------------------------------------------------------------

# Wednesday 10 June 2026: spare covers 10:00-14:00, locum 12:00-16:00 (both inside day's shift).
OVERLAPPING_COVERS = """\
  - {kind: cover, person: spare, start: '2026-06-10T10:00', end: '2026-06-10T14:00'}
  - {kind: cover, person: locum, start: '2026-06-10T12:00', end: '2026-06-10T16:00'}
"""


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        pytest.param("2026-06-10T09:59", "day", id="before_either_cover"),
        pytest.param("2026-06-10T10:00", "spare", id="first_cover_alone"),
        pytest.param("2026-06-10T12:00", "spare", id="overlap_starts_first_listed_wins"),
        pytest.param("2026-06-10T13:59", "spare", id="overlap_last_minute"),
        pytest.param("2026-06-10T14:00", "locum", id="second_cover_alone"),
        pytest.param("2026-06-10T15:59", "locum", id="second_cover_last_minute"),
        pytest.param("2026-06-10T16:00", "day", id="both_covers_over"),
    ],
)
def test_overlapping_covers_one_person_on_duty(local: str, expected: str) -> None:
    rota = _rota(DAY_AND_NIGHT, OVERLAPPING_COVERS)
    assert _who(rota, _london(local)) == expected


def test_overlapping_covers_leave_no_gap_between_them() -> None:
    rota = _rota(DAY_AND_NIGHT, OVERLAPPING_COVERS)
    assert find_gaps(rota, _london("2026-06-10T00:00"), _london("2026-06-11T00:00")) == []


# --- The autumn clock change: 01:00-02:00 happens twice (Sunday 25 October 2026) -------------
# 01:00 BST is 00:00 UTC; at 02:00 BST (01:00 UTC) clocks go back to 01:00 GMT; 02:00 GMT is
# 02:00 UTC. `late` works 18:00-01:30 and `early` 02:00-18:00, by the wall clock, so 01:30-02:00
# is uncovered, and on that night it is uncovered twice.

LATE_AND_EARLY = f"""\
  - {{days: {EVERY_DAY}, start: '18:00', end: '01:30', person: night}}
  - {{days: {EVERY_DAY}, start: '02:00', end: '18:00', person: day}}
"""


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        pytest.param("2026-10-24T23:59", "night", id="00_59_bst"),
        pytest.param("2026-10-25T00:15", "night", id="01_15_bst_first_time"),
        pytest.param("2026-10-25T00:29", "night", id="01_29_bst"),
        pytest.param("2026-10-25T00:30", None, id="01_30_bst_gap"),
        pytest.param("2026-10-25T00:59", None, id="01_59_bst_gap"),
        pytest.param("2026-10-25T01:00", "night", id="01_00_gmt_second_time"),
        pytest.param("2026-10-25T01:29", "night", id="01_29_gmt"),
        pytest.param("2026-10-25T01:30", None, id="01_30_gmt_gap_again"),
        pytest.param("2026-10-25T01:59", None, id="01_59_gmt"),
        pytest.param("2026-10-25T02:00", "day", id="02_00_gmt"),
    ],
)
def test_autumn_repeated_hour_follows_the_wall_clock_both_times(
    utc: str, expected: str | None
) -> None:
    assert _who(_rota(LATE_AND_EARLY), _utc(utc)) == expected


def test_autumn_gap_in_the_repeated_hour_is_found_twice() -> None:
    gaps = find_gaps(_rota(LATE_AND_EARLY), _utc("2026-10-24T22:00"), _utc("2026-10-25T03:00"))
    assert gaps == [
        (_utc("2026-10-25T00:30"), _utc("2026-10-25T01:00")),
        (_utc("2026-10-25T01:30"), _utc("2026-10-25T02:00")),
    ]


def test_wall_clock_cover_of_the_repeated_hour_covers_both_real_hours() -> None:
    """Written without an offset, 01:00-02:00 is wall-clock time: two real hours that night."""
    rota = _rota(
        LATE_AND_EARLY,
        "  - {kind: cover, person: spare, start: '2026-10-25T01:00', end: '2026-10-25T02:00'}\n",
    )
    assert _who(rota, _utc("2026-10-24T23:59")) == "night"
    assert _who(rota, _utc("2026-10-25T00:00")) == "spare"
    assert _who(rota, _utc("2026-10-25T00:45")) == "spare"
    assert _who(rota, _utc("2026-10-25T01:45")) == "spare"
    assert _who(rota, _utc("2026-10-25T02:00")) == "day"
    assert find_gaps(rota, _utc("2026-10-24T22:00"), _utc("2026-10-25T03:00")) == []


def test_cover_written_with_an_offset_covers_only_the_hour_it_names() -> None:
    """01:00+00:00-02:00+00:00 is the second 01:00-02:00 (GMT) only; the first (BST, 00:00-01:00
    UTC) should stay as the weekly pattern has it."""
    rota = _rota(
        LATE_AND_EARLY,
        "  - {kind: cover, person: spare, start: '2026-10-25T01:00+00:00', "
        "end: '2026-10-25T02:00+00:00'}\n",
    )
    assert _who(rota, _utc("2026-10-25T01:45")) == "spare"
    assert _who(rota, _utc("2026-10-25T00:45")) is None  # the BST 01:45: a gap, not spare


def test_leave_from_the_first_0100_to_the_second_is_one_real_hour() -> None:
    """01:00+01:00 to 01:00+00:00 is the BST hour 00:00-01:00 UTC. As wall-clock times the two
    ends are equal, so a comparison without `fold` would see no leave at all."""
    rota = _rota(
        LATE_AND_EARLY,
        "  - {kind: leave, person: night, start: '2026-10-25T01:00+01:00', "
        "end: '2026-10-25T01:00+00:00'}\n",
    )
    assert _who(rota, _utc("2026-10-24T23:59")) == "night"
    assert _who(rota, _utc("2026-10-25T00:15")) is None  # night is away: their shift is a gap
    assert _who(rota, _utc("2026-10-25T01:15")) == "night"  # back for the GMT 01:15


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        pytest.param("2026-03-29T00:45", "day", id="00_45_gmt_before_the_leave"),
        pytest.param("2026-03-29T01:00", None, id="02_00_bst_the_clock_has_passed_01_30"),
        pytest.param("2026-03-29T01:15", None, id="02_15_bst_on_leave"),
        pytest.param("2026-03-29T03:00", None, id="04_00_bst_on_leave"),
        pytest.param("2026-03-29T03:15", "day", id="04_15_bst_back"),
    ],
)
def test_leave_from_a_time_the_clocks_skip_starts_as_the_clock_passes_it(
    utc: str, expected: str | None
) -> None:
    """01:30 on the last Sunday of March never shows on a London clock: it goes from 00:59 GMT to
    02:00 BST. A leave from 01:30 starts at that change, as wall-clock time has it."""
    rota = _rota(
        f"  - {{days: {EVERY_DAY}, start: '00:00', end: '00:00', person: day}}\n",
        "  - {kind: leave, person: day, start: '2026-03-29T01:30', end: '2026-03-29T04:15'}\n",
    )
    assert _who(rota, _utc(utc)) == expected


def test_a_gap_in_the_second_repeated_hour_is_found_from_a_london_start() -> None:
    """A leave of the GMT 01:00-02:00 only leaves that hour uncovered. Searched from London
    midnight (the console's day view), the search must step through it, not over it."""
    rota = _rota(
        f"  - {{days: {EVERY_DAY}, start: '00:00', end: '00:00', person: day}}\n",
        "  - {kind: leave, person: day, start: '2026-10-25T01:00+00:00', "
        "end: '2026-10-25T02:00+00:00'}\n",
    )
    for start in (_london("2026-10-25T00:00"), _utc("2026-10-24T23:00")):
        gaps = find_gaps(rota, start, start + timedelta(hours=6))
        # In UTC to compare: a London time in the repeated hour equals no time in another zone.
        in_utc = [(a.astimezone(UTC), b.astimezone(UTC)) for a, b in gaps]
        assert in_utc == [(_utc("2026-10-25T01:00"), _utc("2026-10-25T02:00"))]
        assert all(gap.tzinfo is start.tzinfo for pair in gaps for gap in pair)


def test_a_skipped_time_with_seconds_starts_at_the_change() -> None:
    rota = _rota(
        f"  - {{days: {EVERY_DAY}, start: '00:00', end: '00:00', person: day}}\n",
        "  - {kind: leave, person: day, start: '2026-03-29T01:30:30', end: '2026-03-29T04:15'}\n",
    )
    assert _who(rota, _utc("2026-03-29T00:59:59")) == "day"
    assert _who(rota, _utc("2026-03-29T01:00")) is None


# --- A gap keeps its start however often it is checked ----------------------------------------

NIGHTS_UNCOVERED = f"  - {{days: {EVERY_DAY}, start: '08:00', end: '20:00', person: day}}\n"


@pytest.mark.parametrize(
    "checked_at",
    [
        pytest.param("2026-06-10T12:00", id="before_the_gap"),
        pytest.param("2026-06-10T20:00", id="as_it_opens"),
        pytest.param("2026-06-10T20:07", id="seven_minutes_in_off_grid"),
        pytest.param("2026-06-10T23:00", id="three_hours_in"),
        pytest.param("2026-06-11T07:45", id="last_quarter_hour"),
    ],
)
def test_a_gap_has_the_same_start_from_every_check(checked_at: str) -> None:
    """The notifier warns once per gap by keying the warning on the gap's start: checked from
    before or from inside the gap, its start must be the same instant."""
    rota = _rota(NIGHTS_UNCOVERED)
    start = _london(checked_at)
    gaps = find_gaps(rota, start, start + timedelta(hours=12))
    assert gaps[0][0] == _london("2026-06-10T20:00")


def test_successive_gaps_each_have_their_own_start() -> None:
    rota = _rota(NIGHTS_UNCOVERED)
    gaps = find_gaps(rota, _london("2026-06-10T12:00"), _london("2026-06-12T12:00"))
    assert gaps == [
        (_london("2026-06-10T20:00"), _london("2026-06-11T08:00")),
        (_london("2026-06-11T20:00"), _london("2026-06-12T08:00")),
    ]


# --- Task status transitions (casework) -------------------------------------------------------

# README: open → in_progress → done | not_needed (reason) | referred (organisation); a referral's
# outcome, once known, closes it as done. Done and not needed are final.
ALLOWED = {
    ("open", "in_progress"), ("open", "done"), ("open", "not_needed"), ("open", "referred"),
    ("in_progress", "open"), ("in_progress", "done"), ("in_progress", "not_needed"),
    ("in_progress", "referred"),
    ("referred", "done"),
}  # fmt: skip
STATUSES = ("open", "in_progress", "done", "not_needed", "referred")


def _change(to: str) -> Change:
    return Change(
        Status(to),
        reason="person already supported elsewhere" if to == "not_needed" else None,
        organisation="gp" if to == "referred" else None,
    )


@pytest.mark.parametrize(
    ("current", "to"), [(current, to) for current in STATUSES for to in STATUSES]
)
def test_task_status_transitions(current: str, to: str) -> None:
    if (current, to) in ALLOWED:
        check_transition(Status(current), _change(to))
    else:
        with pytest.raises(TransitionRefused, match=f"a task that is {current} cannot become {to}"):
            check_transition(Status(current), _change(to))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(Change(Status.NOT_NEEDED), "not_needed needs a reason", id="no_reason"),
        pytest.param(Change(Status.NOT_NEEDED, reason=""), "needs a reason", id="empty_reason"),
        pytest.param(Change(Status.REFERRED), "referred needs an organisation", id="no_org"),
        pytest.param(
            Change(Status.REFERRED, organisation="acme_ltd"),
            "referred needs an organisation",
            id="unknown_org",
        ),
    ],
)
def test_closing_a_task_needs_its_detail(change: Change, message: str) -> None:
    with pytest.raises(TransitionRefused, match=message):
        check_transition(Status.IN_PROGRESS, change)


def test_a_closed_task_cannot_be_started_again() -> None:
    for closed in (Status.DONE, Status.NOT_NEEDED):
        with pytest.raises(TransitionRefused):
            check_transition(closed, Change(Status.IN_PROGRESS))
        with pytest.raises(TransitionRefused):
            check_transition(closed, Change(Status.OPEN))
