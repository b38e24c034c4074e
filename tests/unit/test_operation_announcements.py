"""Police operations announced ahead (#15 part 3), the pure parts: the announcement contract's
rules, its operation group (the same key as its contacts'), and the rota-window check.

Expected gaps are worked out by hand from the rota below (advisor-a 08:00-20:00 every day, nobody
at night). December, so London time is UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.domain import operation_group
from services.intake.operations import parse_announcement
from services.meeting_scheduler.operations import suppressed
from services.notifier.operations import before_text, uncovered
from shared.rota import Rota
from tests.unit.builders import contact_from, example_dict

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # Tuesday


def announcement(**changes: Any) -> dict[str, Any]:
    return {
        "force_code": "NFK",
        "operation": "Operation Kestrel",
        "district": "norwich",
        "starts_at": "2026-12-02T18:00:00Z",
        "ends_at": "2026-12-02T22:00:00+00:00",
        "expected_victims": 12,
    } | changes


def parse(document: dict[str, Any]) -> Any:
    return parse_announcement(json.dumps(document), NOW)


def test_a_valid_announcement_is_read_with_the_group_its_contacts_get() -> None:
    read = parse(announcement())
    assert read.starts_at == datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    assert read.expected_victims == 12
    contact = example_dict() | {"operation": "op  KESTREL", "force_code": "nfk"}
    contact["recorded_at"] = "2026-11-30T10:00:00Z"
    assert read.operation_group == "NFK:kestrel"
    assert operation_group(contact_from(contact, NOW)) == read.operation_group


def test_a_whole_number_written_as_a_float_is_that_number() -> None:
    """JSON Schema's integer includes 12.0, and the contract test sends it."""
    assert parse(announcement(expected_victims=12.0)).expected_victims == 12


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"starts_at": "2026-12-01T09:00:00Z"}, "starts_at"),  # in the past
        ({"starts_at": "2026-12-02T23:00:00Z"}, ""),  # ends before it starts
        ({"ends_at": "2026-12-02T18:00:00Z"}, ""),  # ends as it starts
        ({"ends_at": "2026-12-09T18:00:01Z"}, ""),  # longer than 7 days
        ({"starts_at": "2027-12-02T18:00:00Z", "ends_at": "2027-12-02T20:00:00Z"}, "starts_at"),
        ({"starts_at": "2026-12-02T18:00Z"}, "starts_at"),  # no seconds
        ({"starts_at": "2026-12-02T18:00:00"}, "starts_at"),  # no offset
        ({"starts_at": 1796234400}, "starts_at"),  # a number is no date
        ({"expected_victims": 0}, "expected_victims"),
        ({"expected_victims": 501}, "expected_victims"),
        ({"expected_victims": "12"}, "expected_victims"),  # strict: no coercion
        ({"expected_victims": 12.5}, "expected_victims"),
        ({"expected_victims": True}, "expected_victims"),
        ({"district": "atlantis"}, "district"),
        ({"operation": "Op <script>"}, "operation"),
        ({"operation": "Op"}, ""),  # names no operation
        ({"force_code": "N"}, "force_code"),
        ({"person": "anyone"}, "person"),  # unknown fields are refused
    ],
)
def test_the_contract_refuses(changes: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse(announcement(**changes))
    assert where in {
        str(error["loc"][0]) if error["loc"] else "" for error in refused.value.errors()
    }


def test_seven_days_exactly_is_allowed() -> None:
    read = parse(announcement(ends_at="2026-12-09T18:00:00Z"))
    assert read.ends_at - read.starts_at == timedelta(days=7)


ROTA = Rota.model_validate(
    {
        "people": [
            {"id": "advisor-a", "role": "advisor", "channels": {"email": "json://x/a"}},
            {"id": "head", "role": "head_of_service", "channels": {"email": "json://x/h"}},
        ],
        "weekly": [
            {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"],
             "start": "08:00", "end": "20:00", "person": "advisor-a"},
        ],
        "last_resort": "head",
    }
)  # fmt: skip


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def test_a_window_inside_a_shift_is_covered() -> None:
    assert uncovered(ROTA, utc(2, 9), utc(2, 19, 45)) == []


def test_the_uncovered_part_of_a_window_is_clipped_to_the_window() -> None:
    # 18:00-22:00: nobody from 20:00. The night gap began at 20:00, and ends past the window.
    assert uncovered(ROTA, utc(2, 18), utc(2, 22)) == [(utc(2, 20), utc(2, 22))]
    # Starting at night: the gap that began the evening before starts, here, at the window.
    assert uncovered(ROTA, utc(3, 6), utc(3, 9)) == [(utc(3, 6), utc(3, 8))]
    # Across two nights: two stretches.
    assert uncovered(ROTA, utc(2, 19), utc(3, 21)) == [
        (utc(2, 20), utc(3, 8)),
        (utc(3, 20), utc(3, 21)),
    ]


def test_leave_opens_a_gap_in_the_window() -> None:
    with_leave = ROTA.model_copy(
        update={
            "overrides": (
                *ROTA.overrides,
                *Rota.model_validate(
                    {
                        "people": ROTA.model_dump()["people"],
                        "weekly": [],
                        "overrides": [
                            {"kind": "leave", "person": "advisor-a",
                             "start": "2026-12-02T12:00", "end": "2026-12-02T13:30"},
                        ],
                        "last_resort": "head",
                    }
                ).overrides,
            )
        }
    )  # fmt: skip
    assert uncovered(with_leave, utc(2, 10), utc(2, 15)) == [(utc(2, 12), utc(2, 13, 30))]


def test_reminder_wording_and_small_numbers() -> None:
    assert [before_text(m) for m in (24 * 60, 60, 120, 2 * 24 * 60, 30)] == [
        "tomorrow", "in 1 hour", "in 2 hours", "in 2 days", "in 30 minutes",
    ]  # fmt: skip
    assert [suppressed(n) for n in (0, 1, 2, 3, 10)] == [
        "0", "fewer than 3", "fewer than 3", "3", "10",
    ]  # fmt: skip
