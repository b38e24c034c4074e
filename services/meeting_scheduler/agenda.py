"""Rendering an agenda: deterministic Markdown from agenda items. Items carry no names by
construction (the meeting scheduler never receives any)."""

from __future__ import annotations

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


def render_markdown(series: MeetingSeries, starts_at: datetime, items: Sequence[AgendaItem]) -> str:
    local = starts_at.astimezone(LONDON)
    ordered = sorted(
        items,
        key=lambda item: (URGENCY_ORDER.get(item.urgency, 9), item.added_at, item.case_reference),
    )
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
    if not ordered:
        lines.append("No new cases.")
    for number, item in enumerate(ordered, start=1):
        late = " (added after the cut-off)" if item.late else ""
        lines += [
            f"{number}. **{item.case_reference}** · {item.urgency}{late}",
            f"   - District: {item.district.replace('_', ' ').title()}",
            f"   - Exploitation: {', '.join(item.exploitation_types)}",
            f"   - Open needs: {', '.join(item.open_needs) or 'none recorded'}",
        ]
    lines += ["", "## Any other business", ""]
    return "\n".join(lines)
