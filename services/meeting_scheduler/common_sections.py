"""The parts every meeting's agenda has, whatever its kind: the attendance register, the actions
from the last meeting with their owners and due dates, and any other business."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from services.meeting_scheduler.calendar import MeetingSeries
from services.meeting_scheduler.layout import Block, Bullets, Paragraph, Section, Table
from shared.clock import LONDON

if TYPE_CHECKING:  # annotations only: minutes.py may come to import from the agenda modules
    from services.meeting_scheduler.agenda import OtherBusiness
    from services.meeting_scheduler.minutes import ActionView, Attendance


def attendance_register(series: MeetingSeries, attendance: Attendance | None) -> Block:
    """The register: each invited organisation or role with what the coordinator recorded (blank
    before the meeting, for ticking on paper), then anyone present who was not on the list."""
    invited = attendance.invited if attendance else series.members
    present = attendance.present if attendance else ()
    apologies = attendance.apologies if attendance else ()
    names = list(dict.fromkeys([*invited, *present, *apologies]))
    if not names:
        return Paragraph("No members listed for this meeting.")

    def status(name: str) -> str:
        return "Present" if name in present else "Apologies" if name in apologies else ""

    return Table(
        header=("Organisation or role", "Attendance"),
        widths=(75, 25),
        rows=tuple((name, status(name)) for name in names),
    )


def actions_table(actions: Sequence[ActionView], starts_at: datetime) -> Block:
    if not actions:
        return Paragraph("No open actions.")
    meeting_day = starts_at.astimezone(LONDON).date()
    return Table(
        header=("#", "Case", "Action", "Owner", "Due"),
        widths=(4, 18, 42, 18, 18),
        rows=tuple(
            (
                str(number),
                action.case_reference or "General",
                action.text,
                action.owner,
                f"{action.due.day} {action.due:%B %Y}"
                + (" (overdue)" if action.due < meeting_day else ""),
            )
            for number, action in enumerate(actions, start=1)  # minutes.py's order
        ),
    )


def other_business(heading: str, other: Sequence[OtherBusiness]) -> Section:
    if not other:
        return Section(heading, (Paragraph("None raised before the meeting."),))
    return Section(
        heading, (Bullets(tuple(f"{entry.text} ({entry.added_by})" for entry in other)),)
    )
