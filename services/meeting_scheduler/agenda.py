"""Rendering an agenda: deterministic Markdown from agenda items. Items carry no names by
construction (the meeting scheduler never receives any)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.meeting_scheduler.calendar import MeetingSeries
from shared.clock import LONDON

URGENCY_ORDER = {"immediate": 0, "priority": 1, "routine": 2}


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


def _case_lines(number: int, item: AgendaItem) -> list[str]:
    late = " (added after the cut-off)" if item.late and not item.review else ""
    return [
        f"{number}. **{item.case_reference}** · {item.urgency}{late}",
        f"   - District: {item.district.replace('_', ' ').title()}",
        f"   - Exploitation: {', '.join(item.exploitation_types)}",
        f"   - Open needs: {', '.join(item.open_needs) or 'none recorded'}",
    ]


def render_markdown(
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[AgendaItem],
    other: Sequence[OtherBusiness] = (),
) -> str:
    """Sections: new cases, reviews carried over, actions due, any other business. Case references
    only; the scheduler never holds a name."""
    local = starts_at.astimezone(LONDON)
    sections = agenda_sections(items)
    new, reviews, due = sections.new, sections.reviews, sections.due
    lines = [
        f"# {series.title}",
        "",
        f"- When: {local:%A %d %B %Y, %H:%M} ({local.tzname()}), {series.duration_minutes} minutes",
        f"- Where: {series.location}",
        f"- Cut-off: {series.cutoff_for(starts_at).astimezone(LONDON):%A %d %B %Y, %H:%M}",
        "",
        "## New cases",
        "",
    ]
    if not new:
        lines.append("No new cases.")
    for number, item in enumerate(new, start=1):
        lines += _case_lines(number, item)
    if reviews:
        lines += ["", "## Reviews carried over", ""]
        for number, item in enumerate(reviews, start=1):
            lines += _case_lines(number, item)
    if due:
        lines += ["", "## Actions due", ""]
        lines += [
            f"- **{item.case_reference}**: overdue {', '.join(a.replace('_', ' ') for a in item.overdue_actions)}"
            for item in due
        ]
    lines += ["", "## Any other business", ""]
    lines += [f"- {entry.text} ({entry.added_by})" for entry in other]
    return "\n".join(lines)


def render_html(
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[AgendaItem],
    other: Sequence[OtherBusiness] = (),
) -> str:
    """The Markdown agenda as a small standalone HTML page (deterministic, like the Markdown)."""
    return markdown_to_html(series.title, render_markdown(series, starts_at, items, other))


def markdown_to_html(title: str, markdown: str) -> str:
    from html import escape

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{body}</body></html>\n"
    )


def render_pdf(
    series: MeetingSeries,
    starts_at: datetime,
    items: Sequence[AgendaItem],
    other: Sequence[OtherBusiness] = (),
) -> bytes:
    """A printable agenda, from the same text as the Markdown."""
    return markdown_to_pdf(
        series.title, starts_at, render_markdown(series, starts_at, items, other)
    )


# The PDF's built-in Helvetica covers Latin-1 only; typographic punctuation is common in what
# coordinators type, so it is spelled in ASCII, and anything else outside Latin-1 becomes "?".
# (The Markdown, HTML and email carry the text exactly.) Before this, one curly apostrophe made
# every render of that agenda fail (found by the fault suite's fuzz).
PDF_SPELLINGS = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u2022": "-", "\u2192": "->",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ",
})  # fmt: skip


def pdf_safe(text: str) -> str:
    spelled = unicodedata.normalize("NFC", text.translate(PDF_SPELLINGS))
    return spelled.encode("latin-1", errors="replace").decode("latin-1")


def markdown_to_pdf(title: str, starts_at: datetime, markdown: str) -> bytes:
    """Fixed metadata, so the same agenda always gives the same bytes."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    # Aware, so fpdf2 does not read it in the host's time zone: same agenda, same bytes anywhere.
    pdf.set_creation_date(starts_at.astimezone(LONDON))
    pdf.set_title(pdf_safe(title))
    pdf.set_producer("safeguarding meeting_scheduler")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    for line in markdown.splitlines():
        line = pdf_safe(line.replace("·", "-"))
        text = line.replace("**", "").strip()
        if line.startswith("|---"):
            continue
        if line.startswith("|"):
            text = "   ".join(cell.strip() for cell in line.strip("|").split("|"))
        if line.startswith("# "):
            pdf.set_font("Helvetica", "B", 15)
            pdf.multi_cell(0, 8, text[2:], new_x="LMARGIN", new_y="NEXT")
        elif line.startswith("## ") or line.startswith("### "):
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 12 if line.startswith("## ") else 11)
            pdf.multi_cell(0, 7, text.lstrip("# "), new_x="LMARGIN", new_y="NEXT")
        elif text:
            pdf.set_font("Helvetica", "", 10)
            indent = 6 if line.startswith("   ") else 0
            pdf.set_x(pdf.l_margin + indent)
            pdf.multi_cell(
                0, 5, text.lstrip("- ") if indent else text, new_x="LMARGIN", new_y="NEXT"
            )
        else:
            pdf.ln(2)
    return bytes(pdf.output())


def render_ics(series: MeetingSeries, starts_at: datetime, version: int = 1) -> bytes:
    """An invitation for the meeting. It names no case: an invite is forwarded and synced to
    phones, so the agenda travels as an attachment beside it instead."""
    from datetime import timedelta

    from icalendar import Calendar, Event

    local = starts_at.astimezone(LONDON)
    calendar = Calendar()
    calendar.add("prodid", "-//safeguarding//meeting_scheduler//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{series.id}-{local:%Y%m%d}@safeguarding.local")
    event.add("dtstamp", starts_at)  # fixed, not "now": the same agenda gives the same file
    event.add("sequence", version - 1)
    event.add("summary", series.title)
    event.add("dtstart", local)
    event.add("dtend", local + timedelta(minutes=series.duration_minutes))
    event.add("location", series.location)
    event.add("description", "The agenda is attached to the email that brought this invitation.")
    calendar.add_component(event)
    calendar.add_missing_timezones()  # a VTIMEZONE for Europe/London, so any client reads it alike
    return bytes(calendar.to_ical())
