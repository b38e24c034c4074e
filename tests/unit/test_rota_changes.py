"""Leave and cover stored from the console, as pure decisions: what is refused, how stored changes
merge with the file's, and how the rota reads day by day across a change of the clocks. Expected
times are worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.notifier.rota_changes import (
    ChangeRefused,
    RotaChange,
    check_change,
    london_wall_clock,
    merged,
)
from services.notifier.rota_views import days_view, now_and_next
from shared.clock import LONDON
from shared.rota import Rota, on_duty

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # a Wednesday, BST (London is UTC+1)


def rota(overrides: list[dict[str, str]] | None = None) -> Rota:
    email = {"email": "json://127.0.0.1:9/e"}
    return Rota.model_validate(
        {
            "people": [
                {"id": "day", "role": "advisor", "channels": email},
                {"id": "night", "role": "advisor", "channels": email},
                {"id": "head", "role": "head_of_service", "channels": email},
                {"id": "coordinator", "role": "meeting_coordinator", "channels": email},
            ],
            "weekly": [
                {"days": EVERY_DAY, "start": "08:00", "end": "20:00", "person": "day"},
                {"days": EVERY_DAY, "start": "20:00", "end": "08:00", "person": "night"},
            ],
            "overrides": overrides or [],
            "last_resort": "head",
        }
    )


def change(number: int, kind: str, person: str, starts: datetime, ends: datetime) -> RotaChange:
    return RotaChange(number, kind, person, starts, ends, "head", NOW)  # type: ignore[arg-type]


def test_an_aware_time_is_london_wall_clock_and_a_naive_one_already_is() -> None:
    assert london_wall_clock(datetime(2026, 6, 10, 7, 0, tzinfo=UTC)) == datetime(2026, 6, 10, 8, 0)
    assert london_wall_clock(datetime(2026, 12, 10, 7, 0, tzinfo=UTC)) == datetime(2026, 12, 10, 7)
    assert london_wall_clock(datetime(2026, 6, 10, 8, 0)) == datetime(2026, 6, 10, 8, 0)


@pytest.mark.parametrize(
    ("kind", "person", "starts", "ends", "conflict"),
    [
        ("leave", "nobody", datetime(2026, 6, 11, 8), datetime(2026, 6, 11, 20), False),
        ("leave", "day", datetime(2026, 6, 11, 20), datetime(2026, 6, 11, 8), False),
        ("leave", "day", datetime(2026, 6, 11, 8, 5), datetime(2026, 6, 11, 20), False),
        (
            "leave",
            "day",
            datetime(2026, 6, 1, 8),
            datetime(2026, 6, 10, 12),
            False,
        ),  # over at 13:00
        ("leave", "day", datetime(2026, 6, 11, 8), datetime(2027, 7, 16, 8), False),  # 401 days
        ("cover", "coordinator", datetime(2026, 6, 11, 8), datetime(2026, 6, 11, 20), False),
        ("cover", "night", datetime(2026, 6, 12, 19), datetime(2026, 6, 13, 9), True),  # on leave
    ],
)
def test_a_change_that_could_not_work_is_refused(
    kind: str, person: str, starts: datetime, ends: datetime, conflict: bool
) -> None:
    standing = rota([{"kind": "leave", "person": "night", "start": "2026-06-13T08:00",
                      "end": "2026-06-14T08:00"}])  # fmt: skip
    with pytest.raises(ChangeRefused) as refused:
        check_change(standing, kind, person, starts, ends, NOW)  # type: ignore[arg-type]
    assert refused.value.conflict is conflict


def test_a_change_in_the_second_repeated_hour_is_refused_not_moved() -> None:
    """Stored as wall-clock time, 01:30 GMT on the night the clocks go back would read back as
    01:30 BST, an hour early: refused. The first 01:30 (BST), and wall-clock times, are taken."""
    second = london_wall_clock(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 01:30 GMT
    first = london_wall_clock(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 01:30 BST
    assert second == first == datetime(2026, 10, 25, 1, 30)  # equal as wall-clock times
    with pytest.raises(ChangeRefused, match="second 01:00-02:00"):
        check_change(rota(), "leave", "night", datetime(2026, 10, 24, 20), second, NOW)
    check_change(rota(), "leave", "night", datetime(2026, 10, 24, 20), first, NOW)
    check_change(rota(), "leave", "night", first, datetime(2026, 10, 25, 8), NOW)


def test_a_cover_in_the_repeated_hour_clashes_with_a_leave_of_the_same_real_hour() -> None:
    """The file gives night leave for the BST 01:00-02:00 only (its ends are equal as wall-clock
    times). A cover of 01:15-01:45, the first occurrence, falls inside it: refused, or night would
    be paged while away. The hour after, GMT, is free."""
    standing = rota([{"kind": "leave", "person": "night", "start": "2026-10-25T01:00+01:00",
                      "end": "2026-10-25T01:00+00:00"}])  # fmt: skip
    with pytest.raises(ChangeRefused) as refused:
        check_change(standing, "cover", "night", datetime(2026, 10, 25, 1, 15),
                     datetime(2026, 10, 25, 1, 45), NOW)  # fmt: skip
    assert refused.value.conflict
    check_change(standing, "cover", "night", datetime(2026, 10, 25, 2), datetime(2026, 10, 25, 3),
                 NOW)  # fmt: skip


def test_a_change_that_can_work_passes() -> None:
    standing = rota([{"kind": "leave", "person": "night", "start": "2026-06-13T08:00",
                      "end": "2026-06-14T08:00"}])  # fmt: skip
    # Started already but not over (London 13:00 now), and up to 400 days ahead.
    check_change(standing, "leave", "day", datetime(2026, 6, 10, 8), datetime(2026, 6, 11, 8), NOW)
    check_change(standing, "cover", "head", datetime(2026, 6, 13, 8), datetime(2027, 7, 15, 8), NOW)
    # Cover by someone on leave, after their leave ends.
    check_change(
        standing, "cover", "night", datetime(2026, 6, 14, 8), datetime(2026, 6, 14, 20), NOW
    )


def test_the_latest_stored_cover_wins_and_an_unknown_person_is_left_out() -> None:
    file_rota = rota([{"kind": "cover", "person": "head", "start": "2026-06-11T08:00",
                       "end": "2026-06-11T20:00"}])  # fmt: skip
    stored = [
        change(1, "cover", "night", datetime(2026, 6, 11, 8), datetime(2026, 6, 11, 20)),
        change(2, "cover", "day", datetime(2026, 6, 11, 12), datetime(2026, 6, 11, 14)),
        change(3, "leave", "gone", datetime(2026, 6, 11, 0), datetime(2026, 6, 12, 0)),
    ]
    paged = merged(file_rota, stored)
    assert on_duty(paged, datetime(2026, 6, 11, 9, 0, tzinfo=UTC)).id == "night"  # 10:00 BST
    assert on_duty(paged, datetime(2026, 6, 11, 12, 0, tzinfo=UTC)).id == "day"  # 13:00 BST
    assert [o.person for o in paged.overrides] == ["day", "night", "head"]
    assert merged(file_rota, []) is file_rota


def test_days_read_in_london_time_across_the_clocks_going_back() -> None:
    """Sunday 25 October 2026 the clocks go back at 02:00 BST: a 25-hour day. Leave for the day
    shift leaves a gap from 08:00 to 20:00 GMT, that is 08:00Z to 20:00Z."""
    leave = change(1, "leave", "day", datetime(2026, 10, 25, 8), datetime(2026, 10, 25, 20))
    paged = merged(rota(), [leave])
    [sunday] = days_view(paged, date(2026, 10, 25), 1, [leave], file_overrides=())
    assert [(p.start, p.end, p.person.id if p.person else None) for p in sunday.periods] == [
        (datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC), "night"),
        (datetime(2026, 10, 25, 8, 0, tzinfo=UTC), datetime(2026, 10, 25, 20, 0, tzinfo=UTC), None),
        (datetime(2026, 10, 25, 20, 0, tzinfo=UTC), datetime(2026, 10, 26, 0, 0, tzinfo=UTC), "night"),
    ]  # fmt: skip
    assert sunday.gaps == (
        (datetime(2026, 10, 25, 8, tzinfo=UTC), datetime(2026, 10, 25, 20, tzinfo=UTC)),
    )
    assert [(c.id, c.source, c.kind) for c in sunday.changes] == [(1, "console", "leave")]
    # Inside the gap, the head of service (last resort) is paged, until the night shift.
    current, following = now_and_next(paged, datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    assert (current.person.id, current.gap, current.start, current.end) == (
        "head", True, datetime(2026, 10, 25, 8, tzinfo=LONDON), datetime(2026, 10, 25, 20, tzinfo=LONDON),
    )  # fmt: skip
    assert following is not None
    assert (following.person.id, following.start) == (
        "night",
        datetime(2026, 10, 25, 20, tzinfo=LONDON),
    )
