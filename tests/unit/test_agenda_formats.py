"""Agenda formats and bank holidays: golden Markdown and HTML, the PDF's text, the .ics read by a
second parser, a canary on what the renderers output, and meetings that fall on bank holidays.

Golden files live in tests/golden/. To regenerate them deliberately (after an intended change to
the agenda's wording or layout), run

    UPDATE_GOLDEN=1 python3 -m pytest tests/unit/test_agenda_formats.py -k golden

then read `git diff tests/golden` before committing.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

import ics
import pytest
from dateutil.tz import tzical
from pydantic import ValidationError
from pypdf import PdfReader

from services.meeting_scheduler.agenda import (
    AgendaItem,
    AssignedAdvisor,
    render_html,
    render_ics,
    render_markdown,
    render_pdf,
)
from services.meeting_scheduler.calendar import (
    MeetingKind,
    MeetingSeries,
    Placement,
    load_calendar,
    place_item,
)
from shared.clock import LONDON, FixedClock
from shared.events import District, ExploitationType, SupportNeed
from shared.working_days import is_bank_holiday, is_working_day
from tests.unit.builders import MEETINGS_FILE, ROOT

GOLDEN_DIR = ROOT / "tests" / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
REGENERATE_HINT = (
    "If this change to the agenda is intended, regenerate the golden files with\n"
    "    UPDATE_GOLDEN=1 python3 -m pytest tests/unit/test_agenda_formats.py -k golden\n"
    "and read `git diff tests/golden` before committing them."
)

Renderer = Callable[[MeetingSeries, datetime, Sequence[AgendaItem]], str]
BankHolidayRule = Literal["next_working_day", "skip", "keep"]


def _london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
def panel() -> MeetingSeries:
    return load_calendar(MEETINGS_FILE).case_panel()


MEETING = _london(2026, 12, 2, 10, 0)  # Wednesday, GMT; cut-off Monday 30 November 12:00
SUMMER_MEETING = _london(2026, 6, 3, 10, 0)  # Wednesday, BST

# Given out of order, and with arrival times in the opposite order to urgency: urgency sorts first.
ITEMS: tuple[AgendaItem, ...] = (
    AgendaItem(
        case_reference="MS-2026-B4TN6R",
        district="north_norfolk",
        exploitation_types=("domestic_servitude",),
        urgency="routine",
        open_needs=("housing", "interpreter"),
        late=False,
        added_at=_london(2026, 11, 25, 9, 15),
        pathway="nrm_decision_pending",
        contacted_at=_london(2026, 11, 24, 23, 50),  # 8 days before the meeting day
        # nobody has acknowledged its alert yet: the default
    ),
    AgendaItem(
        case_reference="MS-2026-7KQ2M4",
        district="great_yarmouth",
        exploitation_types=("sexual", "criminal"),
        urgency="immediate",
        open_needs=("safe_accommodation", "legal_advice"),
        late=True,
        added_at=_london(2026, 11, 30, 16, 45),
        pathway="nrm",
        contacted_at=_london(2026, 11, 30, 16, 30),
        advisor=AssignedAdvisor("advisor-night"),
    ),
    AgendaItem(
        case_reference="MS-2026-3HXW9P",
        district="kings_lynn_west_norfolk",
        exploitation_types=("labour",),
        urgency="priority",
        open_needs=(),
        late=False,
        added_at=_london(2026, 11, 27, 14, 0),
        pathway="duty_to_notify",
        contacted_at=_london(2026, 11, 27, 0, 5),
        advisor=AssignedAdvisor("advisor-day"),
    ),
)
DISTRICT_NAMES = ("Great Yarmouth", "King's Lynn and West Norfolk", "North Norfolk")
# Written out here, not read from shared/labels.py, so a wrong label fails these tests.
NEED_LABELS = {
    "legal_advice": "Legal advice",
    "immigration_advice": "Immigration advice",
    "healthcare": "Healthcare",
    "mental_health": "Mental health",
    "housing": "Housing",
    "safe_accommodation": "Safe accommodation",
    "financial_support": "Financial support",
    "employment": "Employment",
    "education": "Education",
    "interpreter": "Interpreter",
    "substance_misuse": "Substance misuse",
    "other": "Other support",
}
EXPLOITATION_LABELS = {
    "labour": "Labour",
    "sexual": "Sexual",
    "criminal": "Criminal",
    "domestic_servitude": "Domestic servitude",
    "organ_harvesting": "Organ harvesting",
    "unknown": "Not known",
}
DISTRICT_LABELS = {
    "breckland": "Breckland", "broadland": "Broadland", "great_yarmouth": "Great Yarmouth",
    "kings_lynn_west_norfolk": "King's Lynn and West Norfolk", "north_norfolk": "North Norfolk",
    "norwich": "Norwich", "south_norfolk": "South Norfolk", "outside_norfolk": "Outside Norfolk",
}  # fmt: skip
NEW_CASES_HEADER = (
    "| # | Reference | Urgency | District | Pathway | Exploitation | Open needs "
    "| Days since contact | Assigned advisor |"
)


# --- 1. Golden Markdown and HTML -------------------------------------------------------------


def test_the_golden_meeting_is_a_real_occurrence_of_the_shipped_case_panel(
    panel: MeetingSeries,
) -> None:
    assert panel.id == "case-panel"
    assert MEETING in panel.occurrences_after(_london(2026, 11, 30))
    assert panel.cutoff_for(MEETING) == _london(2026, 11, 30, 12, 0)
    late = next(item for item in ITEMS if item.late)
    assert late.added_at > panel.cutoff_for(MEETING)
    assert all(item.added_at < panel.cutoff_for(MEETING) for item in ITEMS if not item.late)


@pytest.mark.parametrize(
    ("suffix", "render"),
    [
        pytest.param("md", render_markdown, id="markdown"),
        pytest.param("html", render_html, id="html"),
    ],
)
def test_golden(panel: MeetingSeries, suffix: str, render: Renderer) -> None:
    path = GOLDEN_DIR / f"case-panel-2026-12-02.{suffix}"
    actual = render(panel, MEETING, ITEMS).encode("utf-8")
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(actual)
        pytest.skip(
            f"UPDATE_GOLDEN=1: rewrote {path.relative_to(ROOT)}; review it before committing"
        )
    if not path.exists():
        pytest.fail(f"golden file {path.relative_to(ROOT)} is missing.\n{REGENERATE_HINT}")
    expected = path.read_bytes()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.decode("utf-8").splitlines(keepends=True),
                actual.decode("utf-8").splitlines(keepends=True),
                fromfile=f"golden {path.name}",
                tofile="rendered now",
            )
        )
        pytest.fail(
            f"render_{'markdown' if suffix == 'md' else suffix} no longer matches "
            f"{path.relative_to(ROOT)} byte for byte:\n{diff or '(difference in bytes only)'}\n"
            f"{REGENERATE_HINT}"
        )


class _Page(HTMLParser):
    """Tags, attributes and text of an HTML page, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(f"/{tag}")

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1] == "style":
            return  # the stylesheet, not text a reader sees
        self.text.append(data)


def _opened(tags: list[str]) -> set[str]:
    return {tag for tag in tags if not tag.startswith("/")}


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "br", "strong",
    "ul", "li", "table", "tr", "th", "td",
}  # fmt: skip


def test_html_has_only_the_expected_markup_and_the_items_in_urgency_order(
    panel: MeetingSeries,
) -> None:
    html = render_html(panel, MEETING, ITEMS)
    page = _page(html)
    assert _opened(page.tags) <= ALLOWED_TAGS
    assert {name for name, _ in page.attributes} <= {
        "lang", "charset", "width", "align", "bgcolor", "border",
    }  # fmt: skip
    assert re.findall(r'<td align="left">(MS-[^<]*)</td>', html) == [
        "MS-2026-7KQ2M4",
        "MS-2026-3HXW9P",
        "MS-2026-B4TN6R",
    ]
    assert html.count("added after the cut-off") == 1
    assert (
        '<tr><td align="left">1</td><td align="left">MS-2026-7KQ2M4</td>'
        '<td align="left">Immediate, added after the cut-off</td>'
        '<td align="left">Great Yarmouth</td><td align="left">NRM referral</td>'
        '<td align="left">Sexual, Criminal</td>'
        '<td align="left">Safe accommodation, Legal advice</td><td align="left">2</td>'
        '<td align="left">advisor-night</td></tr>'
    ) in html
    assert html.count("OFFICIAL-SENSITIVE") == 2  # top and bottom
    assert "*" not in "".join(page.text)  # no Markdown in the HTML
    assert "_" not in "".join(page.text)  # no raw keys


# --- 2. PDF --------------------------------------------------------------------------------


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_pdf_is_a_deterministic_pdf_with_the_agenda_text(panel: MeetingSeries) -> None:
    first = render_pdf(panel, MEETING, ITEMS)
    assert first.startswith(b"%PDF")
    assert render_pdf(panel, MEETING, ITEMS) == first
    assert render_pdf(panel, MEETING, list(reversed(ITEMS))) == first
    text = _pdf_text(first)
    assert panel.title in text
    for item in ITEMS:
        assert item.case_reference in text
    for name in DISTRICT_NAMES:
        assert name in text
    assert text.count("added after the cut-off") == 1
    assert "Safe accommodation" in text
    assert "none recorded" in text
    assert "**" not in text
    assert "_" not in text
    metadata = PdfReader(io.BytesIO(first)).metadata
    assert metadata is not None
    assert metadata.title == panel.title


@contextmanager
def _host_timezone(name: str) -> Iterator[None]:
    """Run as if the host's local time zone were `name` (POSIX TZ + tzset)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_pdf_bytes_do_not_depend_on_the_host_time_zone(panel: MeetingSeries) -> None:
    outputs: dict[str, bytes] = {}
    for zone in ("UTC", "Europe/London", "Asia/Tokyo"):
        with _host_timezone(zone):
            outputs[zone] = render_pdf(panel, MEETING, ITEMS)
    assert outputs["Asia/Tokyo"] == outputs["UTC"] == outputs["Europe/London"]


def test_pdf_creation_date_is_the_meeting_start_in_summer(panel: MeetingSeries) -> None:
    with _host_timezone("UTC"):
        data = render_pdf(panel, SUMMER_MEETING, ITEMS)
    metadata = PdfReader(io.BytesIO(data)).metadata
    assert metadata is not None
    assert metadata.creation_date == SUMMER_MEETING


# --- 3. The .ics invitation, read by the `ics` package ------------------------------------


def _unfolded(data: bytes) -> str:
    """The .ics text with RFC 5545 line folding undone, so a long value is searchable."""
    return data.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")


def _only_event(data: bytes) -> Any:
    events = list(ics.Calendar(data.decode("utf-8")).events)
    assert len(events) == 1
    return events[0]


# When the .ics is made (the service's clock, fixed here so the bytes are): a summer moment, to
# see DTSTAMP written in UTC.
CREATED = FixedClock(_london(2026, 11, 27, 16, 45))
SUMMER_CREATED = FixedClock(_london(2026, 6, 1, 9, 30))


@pytest.mark.parametrize(
    ("starts_at", "begin_utc", "clock", "dtstamp"),
    [
        pytest.param(MEETING, _utc(2026, 12, 2, 10, 0), CREATED, "20261127T164500Z",
                     id="gmt_december"),
        pytest.param(SUMMER_MEETING, _utc(2026, 6, 3, 9, 0), SUMMER_CREATED, "20260601T083000Z",
                     id="bst_june"),
    ],
)  # fmt: skip
def test_ics_event_read_by_a_second_parser(
    panel: MeetingSeries, starts_at: datetime, begin_utc: datetime, clock: FixedClock, dtstamp: str
) -> None:
    data = render_ics(panel, starts_at, created_at=clock.now())
    event = _only_event(data)
    begin: datetime = event.begin.datetime
    end: datetime = event.end.datetime
    assert begin == begin_utc
    assert (begin.astimezone(LONDON).hour, begin.astimezone(LONDON).minute) == (10, 0)
    assert end - begin == timedelta(minutes=panel.duration_minutes) == timedelta(minutes=90)
    assert event.duration == timedelta(minutes=90)
    assert event.name == panel.title
    assert event.location == panel.location
    assert event.uid == f"case-panel-{starts_at:%Y%m%d}@safeguarding.local"
    text = _unfolded(data)
    assert f"DTSTART;TZID=Europe/London:{starts_at:%Y%m%d}T100000" in text.splitlines()
    # RFC 5545 3.8.7.2: with a METHOD, DTSTAMP is when the file was made (not the meeting), in UTC.
    assert f"DTSTAMP:{dtstamp}" in text.splitlines()


@pytest.mark.parametrize("version", [1, 2, 7])
def test_ics_sequence_is_version_minus_one_and_uid_is_stable(
    panel: MeetingSeries, version: int
) -> None:
    data = render_ics(panel, MEETING, version, created_at=CREATED.now())
    event = _only_event(data)
    extra = {line.name: line.value for line in event.extra}
    assert extra.get("SEQUENCE") == str(version - 1)
    first = render_ics(panel, MEETING, created_at=CREATED.now() - timedelta(days=1))
    assert event.uid == _only_event(first).uid  # a revision updates the event
    assert render_ics(panel, MEETING, version, created_at=CREATED.now()) == data


def test_ics_made_later_differs_only_in_its_dtstamp(panel: MeetingSeries) -> None:
    clock = FixedClock(_utc(2026, 11, 30, 10, 0))
    earlier = _unfolded(render_ics(panel, MEETING, 2, created_at=clock.now())).splitlines()
    clock.advance(timedelta(hours=1, minutes=5))
    later = _unfolded(render_ics(panel, MEETING, 2, created_at=clock.now())).splitlines()
    assert [(a, b) for a, b in zip(earlier, later, strict=True) if a != b] == [
        ("DTSTAMP:20261130T100000Z", "DTSTAMP:20261130T110500Z")
    ]


def test_ics_names_no_case(panel: MeetingSeries) -> None:
    text = _unfolded(render_ics(panel, MEETING, 3, created_at=CREATED.now()))
    assert re.search(r"MS-\d{4}-", text) is None
    for item in ITEMS:
        assert item.case_reference not in text
    for word in ("Yarmouth", "Lynn", "North Norfolk", "immediate", "housing", "sexual"):
        assert word not in text


def test_ics_carries_a_europe_london_vtimezone_with_the_right_offsets(
    panel: MeetingSeries,
) -> None:
    text = _unfolded(render_ics(panel, MEETING, created_at=CREATED.now()))
    assert text.count("BEGIN:VTIMEZONE") == 1
    assert "TZID:Europe/London" in text.splitlines()
    zones = tzical(io.StringIO(text))  # a third reader: dateutil's VTIMEZONE parser
    assert zones.keys() == ["Europe/London"]
    zone = zones.get("Europe/London")
    assert datetime(2026, 12, 2, 10, tzinfo=zone).utcoffset() == timedelta(0)
    assert datetime(2026, 6, 3, 10, tzinfo=zone).utcoffset() == timedelta(hours=1)


# --- 4. Canary: the renderers output the template and the given values, nothing else ------


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def _every_valid_value() -> list[AgendaItem]:
    """One item per district, between them every exploitation type and support need."""
    exploitation = list(ExploitationType)
    needs = list(SupportNeed)
    urgencies = ("immediate", "priority", "routine")
    return [
        AgendaItem(
            case_reference=f"MS-2026-{'ABCDEFGH'[index]}{index + 2}KQ2M",
            district=district.value,
            exploitation_types=(
                exploitation[index % len(exploitation)].value,
                exploitation[(index + 1) % len(exploitation)].value,
            ),
            urgency=urgencies[index % 3],
            open_needs=tuple(
                need.value for number, need in enumerate(needs) if number % 7 == index
            ),
            late=index == 3,
            added_at=_london(2026, 11, 26, 9, index),
        )
        for index, district in enumerate(District)
    ]


def _allowed_words(panel: MeetingSeries, items: Sequence[AgendaItem]) -> set[str]:
    template = _words(render_markdown(panel, MEETING, []))
    per_item = _words(
        f"{NEW_CASES_HEADER} none recorded, added after the cut-off not known "
        "not yet acknowledged not recorded"
    )
    numbers = {str(number) for number in range(1, len(items) + 1)}
    page = {"Page", "of"}  # the PDF's footer
    given: set[str] = set()
    for item in items:
        given |= _words(" ".join([item.case_reference, item.urgency.capitalize()]))
        given |= _words(" ".join(EXPLOITATION_LABELS[value] for value in item.exploitation_types))
        given |= _words(" ".join(NEED_LABELS[need] for need in item.open_needs))
        given |= _words(DISTRICT_LABELS[item.district])
    return template | per_item | numbers | page | given


def test_canary_outputs_hold_only_the_template_and_the_given_values(
    panel: MeetingSeries,
) -> None:
    items = _every_valid_value()
    allowed = _allowed_words(panel, items)
    markdown = render_markdown(panel, MEETING, items)
    page = _page(render_html(panel, MEETING, items))
    pdf_text = _pdf_text(render_pdf(panel, MEETING, items))
    assert _words(markdown) - allowed == set()
    assert _words(" ".join(page.text)) - allowed == set()
    assert _words(pdf_text) - allowed == set()
    assert _opened(page.tags) <= ALLOWED_TAGS
    for item in items:  # every valid value comes through as its label, not turned into markup
        labels = [EXPLOITATION_LABELS[value] for value in item.exploitation_types]
        labels += [NEED_LABELS[value] for value in item.open_needs]
        labels += [DISTRICT_LABELS[item.district]]
        for label in labels:
            assert label in markdown
            assert label in " ".join(page.text)
            assert label in pdf_text
    assert "<em>" not in render_html(panel, MEETING, items)
    # nothing from the items reaches the invitation
    ics_words = _words(_unfolded(render_ics(panel, MEETING, created_at=CREATED.now())))
    assert not ics_words & {item.case_reference.split("-")[-1] for item in items}


PAYLOAD = "<script>alert(1)</script>"


@pytest.mark.parametrize(
    "field", ["case_reference", "district", "exploitation_types", "open_needs"]
)
def test_canary_html_escapes_markup_in_any_item_field(panel: MeetingSeries, field: str) -> None:
    values: dict[str, Any] = {
        "case_reference": "MS-2026-7KQ2M4",
        "district": "norwich",
        "exploitation_types": ("labour",),
        "open_needs": ("housing",),
    }
    values[field] = PAYLOAD if field in {"case_reference", "district"} else (PAYLOAD,)
    item = AgendaItem(
        urgency="immediate", late=False, added_at=_london(2026, 11, 26, 9, 0), **values
    )
    html = render_html(panel, MEETING, [item])
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html.lower()
    assert _opened(_page(html).tags) <= ALLOWED_TAGS
    assert PAYLOAD.lower() in " ".join(_page(html).text).lower()  # shown as text, not run


# --- 5. Bank holidays ------------------------------------------------------------------------


def _series(
    weekday: str,
    first: datetime,
    on_bank_holiday: BankHolidayRule,
    publish_before_hours: float = 48,
) -> MeetingSeries:
    return MeetingSeries(
        id=f"test-{weekday.lower().replace(',', '-')}",
        kind=MeetingKind.CASE_PANEL,
        title="Test series",
        starts=first,
        rrule=f"FREQ=WEEKLY;BYDAY={weekday}",
        duration_minutes=60,
        location="Online",
        cutoff_working_days=2,
        cutoff_time=clock_time(12, 0),
        on_bank_holiday=on_bank_holiday,
        publish_before_hours=publish_before_hours,
    )


def _mondays(on_bank_holiday: BankHolidayRule, publish_before_hours: float = 48) -> MeetingSeries:
    return _series("MO", datetime(2026, 1, 5, 10, 0), on_bank_holiday, publish_before_hours)


def _fridays(on_bank_holiday: BankHolidayRule) -> MeetingSeries:
    return _series("FR", datetime(2026, 1, 2, 10, 0), on_bank_holiday)


def test_the_days_these_tests_rely_on() -> None:
    assert is_bank_holiday(date(2026, 8, 31))  # summer bank holiday, a Monday
    assert is_bank_holiday(date(2026, 12, 25))  # Christmas, a Friday
    assert is_bank_holiday(date(2026, 12, 28))  # Boxing Day (Saturday) substituted to Monday
    assert is_bank_holiday(date(2027, 1, 1))  # New Year's Day, a Friday
    assert is_working_day(date(2026, 9, 1))
    assert is_working_day(date(2026, 12, 29))
    assert is_working_day(date(2027, 1, 4))


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("next_working_day",
                     [_london(2026, 9, 1, 10), _london(2026, 9, 7, 10), _london(2026, 9, 14, 10)],
                     id="next_working_day"),
        pytest.param("skip",
                     [_london(2026, 9, 7, 10), _london(2026, 9, 14, 10), _london(2026, 9, 21, 10)],
                     id="skip"),
        pytest.param("keep",
                     [_london(2026, 8, 31, 10), _london(2026, 9, 7, 10), _london(2026, 9, 14, 10)],
                     id="keep"),
    ],
)  # fmt: skip
def test_summer_bank_holiday_monday(rule: BankHolidayRule, expected: list[datetime]) -> None:
    found = _mondays(rule).occurrences_after(_london(2026, 8, 27, 12, 0))
    assert found == expected
    assert {start.utcoffset() for start in found} == {timedelta(hours=1)}  # still 10:00 BST
    assert {(start.hour, start.minute) for start in found} == {(10, 0)}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("next_working_day",
                     [_london(2026, 12, 29, 10), _london(2027, 1, 4, 10), _london(2027, 1, 8, 10)],
                     id="next_working_day"),
        pytest.param("skip",
                     [_london(2027, 1, 8, 10), _london(2027, 1, 15, 10), _london(2027, 1, 22, 10)],
                     id="skip"),
        pytest.param("keep",
                     [_london(2026, 12, 25, 10), _london(2027, 1, 1, 10), _london(2027, 1, 8, 10)],
                     id="keep"),
    ],
)  # fmt: skip
def test_christmas_and_new_year_fridays(rule: BankHolidayRule, expected: list[datetime]) -> None:
    assert _fridays(rule).occurrences_after(_london(2026, 12, 21, 12, 0)) == expected


@pytest.mark.parametrize(
    ("series", "moment", "first"),
    [
        pytest.param(_mondays("next_working_day"), _london(2026, 8, 31, 12, 0),
                     _london(2026, 9, 1, 10), id="summer_on_the_holiday"),
        pytest.param(_mondays("next_working_day"), _london(2026, 9, 1, 9, 59),
                     _london(2026, 9, 1, 10), id="summer_minute_before"),
        pytest.param(_mondays("next_working_day"), _london(2026, 9, 1, 10, 0),
                     _london(2026, 9, 7, 10), id="summer_once_started"),
        pytest.param(_fridays("next_working_day"), _london(2026, 12, 28, 9, 0),
                     _london(2026, 12, 29, 10), id="christmas_four_days_after"),
        pytest.param(_fridays("next_working_day"), _london(2026, 12, 29, 10, 0),
                     _london(2027, 1, 4, 10), id="christmas_once_started"),
    ],
)  # fmt: skip
def test_a_moved_meeting_is_still_upcoming_after_its_original_day(
    series: MeetingSeries, moment: datetime, first: datetime
) -> None:
    assert series.occurrences_after(moment)[0] == first


@pytest.mark.parametrize(
    ("series", "moved", "cutoff"),
    [
        pytest.param(_mondays("next_working_day"), _london(2026, 9, 1, 10),
                     _london(2026, 8, 27, 12), id="summer"),
        pytest.param(_fridays("next_working_day"), _london(2026, 12, 29, 10),
                     _london(2026, 12, 23, 12), id="christmas"),
    ],
)  # fmt: skip
def test_cutoff_of_a_moved_meeting_counts_working_days_back_from_the_moved_date(
    series: MeetingSeries, moved: datetime, cutoff: datetime
) -> None:
    assert moved in series.occurrences_after(moved - timedelta(days=1))
    assert series.cutoff_for(moved) == cutoff
    assert series.cutoff_for(moved).utcoffset() == cutoff.utcoffset()


@pytest.mark.parametrize(
    ("received", "urgent", "starts_at", "late"),
    [
        pytest.param(_london(2026, 8, 27, 11, 59), False, _london(2026, 9, 1, 10), False,
                     id="before_cutoff"),
        pytest.param(_london(2026, 8, 27, 12, 0), False, _london(2026, 9, 7, 10), False,
                     id="at_cutoff_goes_to_next"),
        pytest.param(_london(2026, 8, 31, 9, 0), True, _london(2026, 9, 1, 10), True,
                     id="urgent_on_the_holiday_joins_moved_meeting_late"),
    ],
)  # fmt: skip
def test_place_item_uses_the_moved_meeting(
    received: datetime, urgent: bool, starts_at: datetime, late: bool
) -> None:
    series = _mondays("next_working_day")
    assert place_item(series, received, urgent) == Placement(
        series_id="test-mo", starts_at=starts_at, late=late
    )


@pytest.mark.parametrize(
    ("hours", "publish"),
    [
        pytest.param(48, _london(2026, 8, 30, 10, 0), id="default_48"),
        pytest.param(26.5, _london(2026, 8, 31, 7, 30), id="fractional"),
        pytest.param(24 * 14, _london(2026, 8, 18, 10, 0), id="maximum_two_weeks"),
    ],
)
def test_publish_at_is_the_moved_start_less_publish_before_hours(
    hours: float, publish: datetime
) -> None:
    series = _mondays("next_working_day", hours)
    moved = series.occurrences_after(_london(2026, 8, 27, 12, 0))[0]
    assert moved == _london(2026, 9, 1, 10, 0)
    assert series.publish_at(moved) == publish
    assert moved - series.publish_at(moved) == timedelta(hours=hours)  # no clock change between


def _weekdays() -> MeetingSeries:
    """A meeting every working day (Monday to Friday), moved off bank holidays."""
    return _series("MO,TU,WE,TH,FR", datetime(2026, 1, 5, 10, 0), "next_working_day")


def test_moved_meetings_that_land_on_one_day_still_leave_three_upcoming() -> None:
    assert _weekdays().occurrences_after(_london(2026, 12, 24, 12, 0)) == [
        _london(2026, 12, 29, 10),
        _london(2026, 12, 30, 10),
        _london(2026, 12, 31, 10),
    ]


def test_an_item_after_the_christmas_cutoffs_goes_to_the_next_open_weekday_meeting() -> None:
    series = _weekdays()
    assert series.cutoff_for(_london(2026, 12, 30, 10)) == _london(2026, 12, 24, 12)
    assert series.cutoff_for(_london(2026, 12, 31, 10)) == _london(2026, 12, 29, 12)
    assert place_item(series, _london(2026, 12, 24, 12, 30), urgent=False) == Placement(
        series_id=series.id, starts_at=_london(2026, 12, 31, 10), late=False
    )


def test_shipped_series_move_off_bank_holidays_and_publish_ahead() -> None:
    for series in load_calendar(MEETINGS_FILE).series:
        assert series.on_bank_holiday == "next_working_day"
        assert series.publish_before_hours == (168 if series.id == "nasn" else 48)


SERIES_YAML = """\
series:
  - id: mondays
    kind: case_panel
    title: Monday panel
    starts: "2026-01-05T10:00"
    rrule: "FREQ=WEEKLY;BYDAY=MO"
    duration_minutes: 60
    location: Online
    cutoff_working_days: 2
    cutoff_time: "12:00"
    on_bank_holiday: {rule}
    publish_before_hours: {hours}
"""


def test_bank_holiday_rule_and_publish_hours_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "meetings.yaml"
    path.write_text(SERIES_YAML.format(rule="skip", hours=72))
    series = load_calendar(path).case_panel()
    assert series.on_bank_holiday == "skip"
    assert series.publish_before_hours == 72
    assert series.occurrences_after(_london(2026, 8, 27, 12, 0))[0] == _london(2026, 9, 7, 10)
    assert series.publish_at(_london(2026, 9, 7, 10)) == _london(2026, 9, 4, 10)


@pytest.mark.parametrize(
    ("rule", "hours"),
    [
        pytest.param("move", 48, id="unknown_rule"),
        pytest.param("skip", 0, id="zero_hours"),
        pytest.param("skip", 24 * 14 + 1, id="over_two_weeks"),
    ],
)
def test_bad_bank_holiday_settings_are_rejected(tmp_path: Path, rule: str, hours: float) -> None:
    path = tmp_path / "meetings.yaml"
    path.write_text(SERIES_YAML.format(rule=rule, hours=hours))
    with pytest.raises(ValidationError):
        load_calendar(path)
