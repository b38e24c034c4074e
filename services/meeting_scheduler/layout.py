"""What a printed meeting document is made of: a title, a cover block, then numbered sections of
paragraphs, bullet lists and tables. The case panel's and the NASN's agendas are built as one of
these, and printing.py writes it as Markdown, HTML and PDF, so the three cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.clock import LONDON

# The Government Security Classifications marking for case-level multi-agency papers: printed on
# every page (PDF header and footer) and at the top and bottom of the Markdown and HTML.
MARKING = "OFFICIAL-SENSITIVE"


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    widths: tuple[float, ...]  # per cent of the page width, for the PDF and the HTML
    rows: tuple[tuple[str, ...], ...]


Block = Paragraph | Bullets | Table


@dataclass(frozen=True)
class Section:
    heading: str
    blocks: tuple[Block, ...]
    level: int = 2  # 2: a numbered agenda item; 3: a part of one


@dataclass(frozen=True)
class Layout:
    title: str
    cover: tuple[tuple[str, str], ...]  # (label, value), e.g. ("When", "Wednesday 2 December …")
    sections: tuple[Section, ...]
    marking: str = MARKING
    created: datetime | None = field(default=None)  # the PDF's creation date (fixed: same bytes)


@dataclass(frozen=True)
class Revision:
    """Which version of the agenda this is. `version` None: never sent; `changed`: the text
    differs from `version`, so this is a draft of the next one."""

    version: int | None = None
    sent_at: datetime | None = None
    changed: bool = False

    def describe(self) -> str:
        if self.version is None or self.sent_at is None:
            return "Draft, not yet sent"
        sent = moment(self.sent_at)
        if self.changed:
            return f"Draft, changed since version {self.version} sent {sent}"
        revised = f" (revised: replaces version {self.version - 1})" if self.version > 1 else ""
        return f"Version {self.version}, sent {sent}{revised}"


DRAFT = Revision()


def day(value: datetime) -> str:
    """ "Wednesday 2 December 2026" in London."""
    local = value.astimezone(LONDON)
    return f"{local:%A} {local.day} {local:%B %Y}"


def moment(value: datetime) -> str:
    """ "Monday 30 November 2026, 12:00 GMT": with the zone, as times change with the season."""
    local = value.astimezone(LONDON)
    return f"{day(local)}, {local:%H:%M} {local.tzname()}"


def span(starts_at: datetime, minutes: int) -> str:
    """ "Wednesday 2 December 2026, 10:00–11:30 GMT"."""
    local = starts_at.astimezone(LONDON)
    ends = (starts_at + timedelta(minutes=minutes)).astimezone(LONDON)
    if ends.date() != local.date() or ends.tzname() != local.tzname():
        return f"{moment(local)} to {moment(ends)}"
    return f"{day(local)}, {local:%H:%M}–{ends:%H:%M} {local.tzname()}"
