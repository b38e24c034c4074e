"""A case-panel agenda with every section filled, for the print test and the README's picture.

    python -m tests.support.seeded_agenda docs/images/agenda-case-panel-page1.png

writes page 1 of its PDF as a PNG (pdftoppm, from Debian's poppler-utils)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path

from services.meeting_scheduler.agenda import (
    AgendaItem,
    AssignedAdvisor,
    OtherBusiness,
    case_panel_layout,
)
from services.meeting_scheduler.calendar import MeetingSeries, load_calendar
from services.meeting_scheduler.layout import Layout, Revision
from services.meeting_scheduler.minutes import ActionView, Attendance
from services.meeting_scheduler.referral_outcomes import OnwardReferral
from shared.clock import LONDON

ROOT = Path(__file__).resolve().parents[2]
CANARY = "Łódź Ștefan Őrs"  # Polish, Romanian and Hungarian letters outside Latin-1
MEETING = datetime(2026, 12, 2, 10, 0, tzinfo=LONDON)


def _london(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LONDON)


def panel() -> MeetingSeries:
    return load_calendar(ROOT / "deploy" / "config" / "meetings.yaml").case_panel()


ITEMS = (
    AgendaItem(
        "MS-2026-7KQ2M4", "great_yarmouth", ("sexual", "criminal"), "immediate",
        ("safe_accommodation", "legal_advice"), late=True, added_at=_london(11, 30, 16, 45),
        pathway="nrm", contacted_at=_london(11, 30, 16, 20),
        advisor=AssignedAdvisor("advisor-night"),
    ),
    AgendaItem(
        "MS-2026-3HXW9P", "kings_lynn_west_norfolk", ("labour",), "priority",
        ("immigration_advice", "interpreter"), late=False, added_at=_london(11, 27, 14),
        pathway="duty_to_notify", contacted_at=_london(11, 27, 13, 30),
        advisor=AssignedAdvisor("head-of-service"),
        onward_referrals=(
            OnwardReferral("t-imm", "r-imm", "immigration_advice",
                           "anglia-immigration-advice-network", None, "accepted", None,
                           _london(11, 30, 15, 10)),
            OnwardReferral("t-int", "r-int", "interpreter", None, "Norfolk Interpreting Hub",
                           "made", None, _london(11, 28, 10)),
        ),
    ),
    AgendaItem(
        "MS-2026-B4TN6R", "north_norfolk", ("domestic_servitude",), "routine",
        ("housing",), late=False, added_at=_london(11, 25, 9, 15),
        pathway="nrm_decision_pending", contacted_at=_london(11, 24, 22, 10),
    ),
    AgendaItem(
        "MS-2026-Q8ZR2T", "norwich", ("criminal",), "priority", ("mental_health",),
        late=False, added_at=_london(11, 2, 11), review=True,
        overdue_actions=("first_contact", "mental_health"), pathway="nrm",
        contacted_at=_london(11, 2, 10),
        advisor=AssignedAdvisor(None, recorded=False),  # listed before acknowledgements were kept
        onward_referrals=(
            OnwardReferral("t-mh", "r-mh", "mental_health", "norfolk-talking-therapies", None,
                           "declined", "person_unreachable", _london(11, 20, 16)),
        ),
    ),
)  # fmt: skip


def seeded_layout(series: MeetingSeries | None = None) -> Layout:
    series = series or panel()
    members = series.members
    return case_panel_layout(
        series,
        MEETING,
        ITEMS,
        [OtherBusiness(f"Training offer from {CANARY} (Fundacja Razem)", "coordinator")],
        attendance=Attendance(
            invited=members, present=(), apologies=(members[-1], f"{CANARY} interpreters")
        ),
        actions=[
            ActionView(
                "MS-2026-Q8ZR2T",
                "Confirm the safe house place",
                "The Salvation Army",
                date(2026, 11, 27),
                _london(11, 18, 10),
            ),
            ActionView(
                None,
                "Circulate the revised referral form",
                "Modern Slavery Advisor",
                date(2026, 12, 9),
                _london(11, 18, 10),
            ),
        ],
        revision=Revision(2, _london(11, 30, 10)),
    )


def page_one_png(pdf: bytes, png: Path, dpi: int = 100) -> None:
    """Page 1 of `pdf` as a PNG, drawn by poppler (a renderer other than the one that wrote it)."""
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "agenda.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile",
             str(source), str(Path(work) / "page")],
            check=True, timeout=60,
        )  # fmt: skip
        png.write_bytes((Path(work) / "page.png").read_bytes())


if __name__ == "__main__":
    from services.meeting_scheduler.printing import to_pdf

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "agenda-page1.png")
    page_one_png(to_pdf(seeded_layout()), target, dpi=80)
    print(target)
