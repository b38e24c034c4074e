"""Meeting series: local wall-clock occurrences, working-day cut-offs, placement and the agenda."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.meeting_scheduler.agenda import AgendaItem, render_markdown
from services.meeting_scheduler.calendar import (
    MeetingCalendar,
    MeetingKind,
    MeetingSeries,
    Placement,
    load_calendar,
    place_item,
)
from shared.clock import LONDON
from tests.unit.builders import MEETINGS_FILE

MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def calendar() -> MeetingCalendar:
    return load_calendar(MEETINGS_FILE)


@pytest.fixture(scope="module")
def panel(calendar: MeetingCalendar) -> MeetingSeries:
    return calendar.case_panel()


def _london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_configuration_has_the_case_panel_and_nasn(calendar: MeetingCalendar) -> None:
    assert [(s.id, s.kind) for s in calendar.series] == [
        ("case-panel", MeetingKind.CASE_PANEL),
        ("nasn", MeetingKind.NASN),
    ]


@pytest.mark.parametrize(
    ("moment", "starts_utc", "offsets_hours"),
    [
        pytest.param(
            _utc(2026, 3, 20, 12, 0),
            [_utc(2026, 3, 25, 10, 0), _utc(2026, 4, 1, 9, 0), _utc(2026, 4, 8, 9, 0)],
            [0, 1, 1],
            id="spring_change",
        ),
        pytest.param(
            _utc(2026, 10, 16, 12, 0),
            [_utc(2026, 10, 21, 9, 0), _utc(2026, 10, 28, 10, 0), _utc(2026, 11, 4, 10, 0)],
            [1, 0, 0],
            id="autumn_change",
        ),
    ],
)
def test_case_panel_stays_at_10_london_across_clock_changes(
    panel: MeetingSeries, moment: datetime, starts_utc: list[datetime], offsets_hours: list[int]
) -> None:
    found = panel.occurrences_after(moment)
    assert found == starts_utc
    assert [start.utcoffset() for start in found] == [timedelta(hours=h) for h in offsets_hours]
    assert {(start.astimezone(LONDON).hour, start.minute) for start in found} == {(10, 0)}
    assert {start.astimezone(LONDON).strftime("%a") for start in found} == {"Wed"}


def test_a_meeting_that_has_started_is_not_upcoming(panel: MeetingSeries) -> None:
    assert panel.occurrences_after(_london(2026, 3, 25, 10, 0))[0] == _london(2026, 4, 1, 10, 0)
    assert panel.occurrences_after(_london(2026, 3, 25, 9, 59))[0] == _london(2026, 3, 25, 10, 0)


def test_nasn_is_the_third_thursday_every_quarter(calendar: MeetingCalendar) -> None:
    nasn = calendar.series[1]
    assert nasn.occurrences_after(_utc(2026, 1, 1)) == [
        _london(2026, 1, 15, 14, 0),
        _london(2026, 4, 16, 14, 0),
        _london(2026, 7, 16, 14, 0),
    ]


@pytest.mark.parametrize(
    ("meeting", "cutoff"),
    [
        pytest.param(_london(2026, 3, 25, 10, 0), _london(2026, 3, 23, 12, 0), id="plain_monday"),
        pytest.param(_london(2026, 4, 1, 10, 0), _london(2026, 3, 30, 12, 0), id="monday_in_bst"),
        pytest.param(_london(2026, 5, 6, 10, 0), _london(2026, 5, 1, 12, 0), id="may_day_monday"),
        pytest.param(_london(2026, 5, 27, 10, 0), _london(2026, 5, 22, 12, 0), id="spring_bh"),
        pytest.param(_london(2026, 4, 8, 10, 0), _london(2026, 4, 2, 12, 0), id="easter"),
    ],
)
def test_cutoff_is_12_london_two_working_days_before(
    panel: MeetingSeries, meeting: datetime, cutoff: datetime
) -> None:
    assert panel.cutoff_for(meeting) == cutoff
    assert panel.cutoff_for(meeting).astimezone(LONDON).hour == 12


@pytest.mark.parametrize(
    ("received", "urgent", "starts_at", "late"),
    [
        pytest.param(_london(2026, 3, 23, 11, 59), False, _london(2026, 3, 25, 10, 0), False,
                     id="minute_before_cutoff"),
        pytest.param(_london(2026, 3, 23, 11, 59), True, _london(2026, 3, 25, 10, 0), False,
                     id="urgent_before_cutoff_is_not_late"),
        pytest.param(_london(2026, 3, 23, 12, 0), False, _london(2026, 4, 1, 10, 0), False,
                     id="at_cutoff_goes_to_next"),
        pytest.param(_london(2026, 3, 23, 12, 1), False, _london(2026, 4, 1, 10, 0), False,
                     id="minute_after_cutoff"),
        pytest.param(_london(2026, 3, 23, 12, 1), True, _london(2026, 3, 25, 10, 0), True,
                     id="urgent_minute_after_cutoff"),
        pytest.param(_london(2026, 3, 25, 9, 59), True, _london(2026, 3, 25, 10, 0), True,
                     id="urgent_minute_before_meeting"),
        pytest.param(_london(2026, 5, 1, 11, 59), False, _london(2026, 5, 6, 10, 0), False,
                     id="bank_holiday_friday_before_cutoff"),
        pytest.param(_london(2026, 5, 1, 12, 1), False, _london(2026, 5, 13, 10, 0), False,
                     id="bank_holiday_friday_after_cutoff"),
        pytest.param(_london(2026, 5, 4, 9, 0), True, _london(2026, 5, 6, 10, 0), True,
                     id="urgent_on_the_bank_holiday"),
    ],
)  # fmt: skip
def test_place_item(
    panel: MeetingSeries, received: datetime, urgent: bool, starts_at: datetime, late: bool
) -> None:
    assert place_item(panel, received, urgent) == Placement(
        series_id="case-panel", starts_at=starts_at, late=late
    )


def _item(reference: str, urgency: str, late: bool, added_minute: int) -> AgendaItem:
    return AgendaItem(
        case_reference=reference,
        district="great_yarmouth",
        exploitation_types=("labour", "criminal"),
        urgency=urgency,
        open_needs=("healthcare",) if urgency == "priority" else (),
        late=late,
        added_at=_london(2026, 3, 20, 9, added_minute),
    )


ITEMS = [
    _item("MS-2026-PPPPP2", "priority", False, 0),
    _item("MS-2026-IIIII3", "immediate", True, 30),
]


def test_render_markdown_exact_text(panel: MeetingSeries) -> None:
    register = [f"| {member} |  |" for member in panel.members]  # blank: ticked at the meeting
    assert len(register) >= 5
    assert render_markdown(panel, _london(2026, 3, 25, 10, 0), ITEMS) == "\n".join(
        [
            "# Multi-agency safeguarding meeting (modern slavery case panel)",
            "",
            "**OFFICIAL-SENSITIVE**",
            "",
            "- **When:** Wednesday 25 March 2026, 10:00–11:30 GMT",
            "- **Where:** Online (link sent with the agenda)",
            f"- **Chair:** {panel.chair}",
            "- **Cut-off for items:** Monday 23 March 2026, 12:00 GMT",
            "- **Version:** Draft, not yet sent",
            "",
            "## 1. Attendance and apologies",
            "",
            "| Organisation or role | Attendance |",
            "|---|---|",
            *register,
            "",
            "## 2. Actions from the last meeting",
            "",
            "No open actions.",
            "",
            "## 3. New cases",
            "",
            "| # | Reference | Urgency | District | Pathway | Exploitation | Open needs "
            "| Days since contact | Assigned advisor |",
            "|---|---|---|---|---|---|---|---|---|",
            "| 1 | MS-2026-IIIII3 | Immediate, added after the cut-off | Great Yarmouth "
            "| not known | Labour, Criminal | none recorded | not known | not yet acknowledged |",
            "| 2 | MS-2026-PPPPP2 | Priority | Great Yarmouth | not known | Labour, Criminal "
            "| Healthcare | not known | not yet acknowledged |",
            "",
            "## 4. Reviews carried over",
            "",
            "No reviews carried over.",
            "",
            "## 5. Actions due",
            "",
            "No overdue tasks.",
            "",
            "## 6. Any other business",
            "",
            "None raised before the meeting.",
            "",
            "**OFFICIAL-SENSITIVE**",
            "",
        ]
    )


def test_render_markdown_is_deterministic_and_ignores_input_order(panel: MeetingSeries) -> None:
    starts = _london(2026, 4, 1, 10, 0)
    first = render_markdown(panel, starts, ITEMS)
    assert render_markdown(panel, starts, ITEMS) == first
    assert render_markdown(panel, starts, list(reversed(ITEMS))) == first
    assert "Wednesday 1 April 2026, 10:00–11:30 BST" in first


def test_render_markdown_orders_by_urgency_then_arrival(panel: MeetingSeries) -> None:
    items = [
        _item("MS-2026-RRRRR4", "routine", False, 1),
        _item("MS-2026-PPPPP5", "priority", False, 2),
        _item("MS-2026-IIIII6", "immediate", False, 40),
        _item("MS-2026-IIIII7", "immediate", False, 3),
    ]
    text = render_markdown(panel, _london(2026, 3, 25, 10, 0), items)
    order = [line.split(" | ")[1] for line in text.splitlines() if line[:3].strip("| ").isdigit()]
    assert order == ["MS-2026-IIIII7", "MS-2026-IIIII6", "MS-2026-PPPPP5", "MS-2026-RRRRR4"]
    assert "(added after the cut-off)" not in text


def test_render_markdown_without_items(panel: MeetingSeries) -> None:
    text = render_markdown(panel, _london(2026, 3, 25, 10, 0), [])
    assert "## 3. New cases\n\nNo new cases.\n" in text
    assert "MS-" not in text
