"""The case panel's agenda: its items, their order and sections, and the printed agenda built from
them (printing.py writes it as Markdown, HTML and PDF). Items carry no names by construction (the
meeting scheduler never receives any)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from services.meeting_scheduler.calendar import MeetingSeries
from services.meeting_scheduler.common_sections import (
    actions_table,
    attendance_register,
    other_business,
)
from services.meeting_scheduler.layout import (
    DRAFT,
    Block,
    Layout,
    Paragraph,
    Revision,
    Section,
    Table,
    moment,
    span,
)
from services.meeting_scheduler.operations import OperationDebrief, debrief_block
from services.meeting_scheduler.printing import to_html, to_markdown, to_pdf
from services.meeting_scheduler.referral_outcomes import OnwardReferral, onward_referrals_blocks
from shared.clock import LONDON
from shared.labels import (
    DISTRICTS,
    EXPLOITATION,
    NEEDS,
    PATHWAYS,
    TASK_KINDS,
    URGENCY,
    label,
    labels,
)

if TYPE_CHECKING:  # annotations only: minutes.py may come to import from here
    from services.meeting_scheduler.minutes import ActionView, Attendance

URGENCY_ORDER = {"immediate": 0, "priority": 1, "routine": 2}

AdvisorStatus = Literal["acknowledged", "not_yet_acknowledged", "not_recorded"]
# What the "Assigned advisor" column says when it names nobody.
NOT_YET_ACKNOWLEDGED = "not yet acknowledged"
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class AssignedAdvisor:
    """Who took the case: the advisor who acknowledged its alert, as the notifier's
    AlertAcknowledgedV1 names them (their rota id: the rota gives staff no other name), the one
    casework assigns the case's tasks to. A member of staff, never the person the case is about.
    `recorded` False: the item was listed before the scheduler kept acknowledgements
    (meeting_scheduler_0011), so an acknowledgement not found may simply not have been recorded."""

    person_id: str | None = None
    recorded: bool = True

    @property
    def status(self) -> AdvisorStatus:
        if self.person_id is not None:
            return "acknowledged"
        return "not_yet_acknowledged" if self.recorded else "not_recorded"

    def describe(self) -> str:
        if self.person_id is not None:
            return self.person_id
        return NOT_YET_ACKNOWLEDGED if self.recorded else NOT_RECORDED


@dataclass(frozen=True)
class AgendaItem:
    case_reference: str
    district: str
    exploitation_types: tuple[str, ...]
    urgency: str
    open_needs: tuple[str, ...]
    late: bool
    added_at: datetime
    review: bool = False  # carried over from an earlier meeting: the case is still open
    overdue_actions: tuple[str, ...] = ()  # tasks casework reported overdue and still open
    position: int | None = None  # set when the coordinator reorders
    pathway: str | None = None  # from the referral (None: listed before it was recorded)
    contacted_at: datetime | None = None  # the police contact (the referral's recorded_at)
    advisor: AssignedAdvisor = AssignedAdvisor()  # who acknowledged the case's alert, if anyone
    onward_referrals: tuple[OnwardReferral, ...] = ()  # each with its latest outcome


@dataclass(frozen=True)
class OtherBusiness:
    text: str
    added_by: str


def _ordered(items: Sequence[AgendaItem]) -> list[AgendaItem]:
    """The coordinator's order where given; otherwise most urgent first, then oldest first."""
    return sorted(
        items,
        key=lambda item: (
            item.position if item.position is not None else 1_000_000,
            URGENCY_ORDER.get(item.urgency, 9),
            item.added_at,
            item.case_reference,
        ),
    )


@dataclass(frozen=True)
class AgendaSections:
    """The case panel's sections in the order the documents print them: the Markdown, HTML and
    PDF render from this, and so does the JSON agenda, so the two can never disagree."""

    new: list[AgendaItem]
    reviews: list[AgendaItem]
    due: list[AgendaItem]


def agenda_sections(items: Sequence[AgendaItem]) -> AgendaSections:
    return AgendaSections(
        new=_ordered([item for item in items if not item.review]),
        reviews=_ordered([item for item in items if item.review]),
        due=_ordered([item for item in items if item.overdue_actions]),
    )


# Per cent of the width, so that in the PDF (a table this wide prints at 8pt: printing.py) a
# reference (MS-2026- and six letters), the longest word of a label ("accommodation,"), of a header
# ("Exploitation") and of the advisor column ("acknowledged", "head-of-service") each fit on one
# line of A4 portrait; tests/unit/test_agenda_advisor.py checks it on the PDF.
NEW_CASE_COLUMNS = (
    ("#", 3.5), ("Reference", 18.5), ("Urgency", 10.5), ("District", 10), ("Pathway", 9),
    ("Exploitation", 12), ("Open needs", 14.5), ("Days since contact", 8), ("Assigned advisor", 14),
)  # fmt: skip


def _days_since_contact(item: AgendaItem, starts_at: datetime) -> str:
    """Whole days from the police contact to the meeting day, both in London."""
    if item.contacted_at is None:
        return "not known"
    days = (starts_at.astimezone(LONDON).date() - item.contacted_at.astimezone(LONDON).date()).days
    return str(days)


def _case_table(items: Sequence[AgendaItem], starts_at: datetime, empty: str) -> Block:
    if not items:
        return Paragraph(empty)
    rows = tuple(
        (
            str(number),
            item.case_reference,
            label(URGENCY, item.urgency)
            + (", added after the cut-off" if item.late and not item.review else ""),
            label(DISTRICTS, item.district),
            label(PATHWAYS, item.pathway) if item.pathway else "not known",
            labels(EXPLOITATION, item.exploitation_types),
            labels(NEEDS, item.open_needs) or "none recorded",
            _days_since_contact(item, starts_at),
            item.advisor.describe(),
        )
        for number, item in enumerate(items, start=1)
    )
    return Table(
        header=tuple(name for name, _ in NEW_CASE_COLUMNS),
        widths=tuple(width for _, width in NEW_CASE_COLUMNS),
        rows=rows,
    )


def _overdue(items: Sequence[AgendaItem]) -> Block:
    if not items:
        return Paragraph("No overdue tasks.")
    return Table(
        header=("Reference", "Overdue tasks"),
        widths=(22, 78),
        rows=tuple(
            (item.case_reference, labels(TASK_KINDS, item.overdue_actions)) for item in items
        ),
    )


def _onward_referrals(heading: str, items: Sequence[AgendaItem]) -> tuple[Section, ...]:
    """A part under the cases' table with a small table of onward referrals for each case that
    has any (an agenda with none has no such part)."""
    cases = [
        (item.case_reference, item.onward_referrals) for item in items if item.onward_referrals
    ]
    if not cases:
        return ()
    return (Section(heading, tuple(onward_referrals_blocks(cases)), level=3),)


def case_panel_layout(
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[AgendaItem],
    other: Sequence[OtherBusiness] = (),
    *,
    attendance: Attendance | None = None,
    actions: Sequence[ActionView] = (),
    revision: Revision = DRAFT,
    debriefs: Sequence[OperationDebrief] = (),
) -> Layout:
    """The case panel's agenda, in the order of AgendaSections (the JSON agenda's order too).
    Case references only; the scheduler never holds a name. Police operations that ended since
    the last meeting (operations.py) get a debrief item before any other business, counts only.
    Each case's onward referrals (referral_outcomes.py) follow its section's table."""
    sections = agenda_sections(items)
    debrief = (
        (Section("6. Police operations debrief", (debrief_block(debriefs),)),) if debriefs else ()
    )
    return Layout(
        title=series.title,
        cover=(
            ("When", span(starts_at, series.duration_minutes)),
            ("Where", series.location),
            ("Chair", series.chair),
            ("Cut-off for items", moment(series.cutoff_for(starts_at))),
            ("Version", revision.describe()),
        ),
        sections=(
            Section("1. Attendance and apologies", (attendance_register(series, attendance),)),
            Section("2. Actions from the last meeting", (actions_table(actions, starts_at),)),
            Section("3. New cases", (_case_table(sections.new, starts_at, "No new cases."),)),
            *_onward_referrals("Onward referrals of the new cases", sections.new),
            Section(
                "4. Reviews carried over",
                (_case_table(sections.reviews, starts_at, "No reviews carried over."),),
            ),
            *_onward_referrals("Onward referrals of the reviews", sections.reviews),
            Section("5. Actions due", (_overdue(sections.due),)),
            *debrief,
            other_business(f"{6 + len(debrief)}. Any other business", other),
        ),
        created=starts_at.astimezone(LONDON),
    )


# The agenda with the series' member list, no actions and as a draft; documents.py passes the
# meeting's attendance, open actions and version to case_panel_layout.
def render_markdown(
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[AgendaItem],
    other: Sequence[OtherBusiness] = (),
) -> str:
    return to_markdown(case_panel_layout(series, starts_at, items, other))


def render_html(
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[AgendaItem],
    other: Sequence[OtherBusiness] = (),
) -> str:
    return to_html(case_panel_layout(series, starts_at, items, other))


def render_pdf(
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[AgendaItem],
    other: Sequence[OtherBusiness] = (),
) -> bytes:
    return to_pdf(case_panel_layout(series, starts_at, items, other))


def render_ics(
    series: MeetingSeries, starts_at: datetime, version: int = 1, *, created_at: datetime
) -> bytes:
    """An invitation for the meeting. It names no case: an invite is forwarded and synced to
    phones, so the agenda travels as an attachment beside it instead. `created_at` (from the
    service's clock) is when this file is made: RFC 5545 3.8.7.2 makes DTSTAMP that moment for
    an object with a METHOD, so a client tells a newer copy from an older one; UID and SEQUENCE
    (the published version) say which meeting and which revision it is."""
    from datetime import UTC, timedelta

    from icalendar import Calendar, Event

    local = starts_at.astimezone(LONDON)
    calendar = Calendar()
    calendar.add("prodid", "-//safeguarding//meeting_scheduler//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{series.id}-{local:%Y%m%d}@safeguarding.local")
    event.add("dtstamp", created_at.astimezone(UTC))  # RFC 5545: in UTC
    event.add("sequence", version - 1)
    event.add("summary", series.title)
    event.add("dtstart", local)
    event.add("dtend", local + timedelta(minutes=series.duration_minutes))
    event.add("location", series.location)
    event.add("description", "The agenda is attached to the email that brought this invitation.")
    calendar.add_component(event)
    calendar.add_missing_timezones()  # a VTIMEZONE for Europe/London, so any client reads it alike
    return bytes(calendar.to_ical())
