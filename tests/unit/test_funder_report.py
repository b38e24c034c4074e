"""The funder's quarterly report as rendered (services/meeting_scheduler/funder_report.py): the
CSV read back with the csv module and the PDF's text read back with pypdf hold the figures given,
computed here independently, with every count of 1 or 2 as "<3"; the PDF carries its two charts
as images; no case reference reaches either file; the same figures give the same bytes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any, cast

import pypdf
import pytest

from services.meeting_scheduler.funder_report import (
    SchedulerFigures,
    figures_of,
    to_csv,
    to_pdf,
)
from shared.events import CaseworkQuarterV1, QuarterCaseworkFigures

REFERENCE = "MS-2026-CANARY9"  # a case reference slipped into a category key: never printed


def casework(**counts: Any) -> QuarterCaseworkFigures:
    return QuarterCaseworkFigures(**counts)


QUARTER = casework(
    people_supported=7, children=1, adults_declined_nrm=4, adults_other=2,
    hours_to_first_contact_median=3.46, hours_to_first_contact_p90=20.04,
    alerts_acknowledged=7, alerts_acknowledged_within_target=6,
    referrals_by_need_and_outcome={"housing": {"accepted": 3, "declined": 1}, "healthcare": {"made": 5}},
    criminal_justice_by_state={"interview_booked": 2, REFERENCE: 4},
)  # fmt: skip
TO_DATE = casework(
    people_supported=31, children=2, adults_declined_nrm=17, adults_other=12,
    hours_to_first_contact_median=5.14, hours_to_first_contact_p90=30.96,
    alerts_acknowledged=31, alerts_acknowledged_within_target=28,
    referrals_by_need_and_outcome={
        "housing": {"accepted": 9, "declined": 2}, "healthcare": {"made": 5, "accepted": 11},
        REFERENCE: {"made": 3},
    },
    criminal_justice_by_state={"interview_booked": 6, "court_supported": 1},
)  # fmt: skip
OURS_QUARTER = SchedulerFigures(
    operations_supported=2, operation_contacts=9, training_sessions_held=1,
    training_attendance=14, nasn_meetings_held=1,
)  # fmt: skip
OURS_TO_DATE = SchedulerFigures(
    operations_supported=4, operation_contacts=23, training_sessions_held=3,
    training_attendance=52, nasn_meetings_held=3,
)  # fmt: skip


def event(quarter: QuarterCaseworkFigures = QUARTER) -> CaseworkQuarterV1:
    return CaseworkQuarterV1(
        occurred_at=datetime(2027, 1, 4, 9, 0, tzinfo=UTC), correlation_id="quarter-2026-27-Q3",
        producer="casework", quarter="2026-27-Q3", starts_on=date(2026, 10, 1),
        ends_on=date(2026, 12, 31), project_starts=date(2026, 4, 1), target=100, version=2,
        quarter_figures=quarter, to_date=TO_DATE,
    )  # fmt: skip


def expect(value: int) -> str:
    """The suppression rule, written out again: 1 and 2 are hidden, 0 and 3 upwards shown."""
    return "<3" if value in (1, 2) else str(value)


@pytest.fixture(scope="module")
def rendered() -> tuple[list[dict[str, str]], str, bytes]:
    rows = figures_of(event(), OURS_QUARTER, OURS_TO_DATE)
    text = to_csv(rows)
    pdf = to_pdf(event(), rows, 2, datetime(2027, 1, 4, 9, 0, tzinfo=UTC))
    return list(csv.DictReader(io.StringIO(text))), text, pdf


def by_figure(rows: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    return {row["figure"]: (row["quarter"], row["project_to_date"]) for row in rows}


def test_csv_holds_every_figure_with_small_numbers_suppressed(
    rendered: tuple[list[dict[str, str]], str, bytes],
) -> None:
    rows, text, _ = rendered
    assert text.splitlines()[0] == "section,figure,quarter,project_to_date"
    figures = by_figure(rows)
    expected = {
        "People supported (cases opened)": (expect(7), expect(31)),
        "Target over the project": ("", "100"),
        "Children (handed to children's services)": ("<3", "<3"),
        "Adults who declined the NRM": ("4", "17"),
        "Other adults (consented, or not yet asked)": ("<3", "12"),
        "Hours from police contact to first contact, median": (
            str(round(3.46, 1)), str(round(5.14, 1))),
        "Hours from police contact to first contact, 90th percentile": (
            str(round(20.04, 1)), str(round(30.96, 1))),
        "Alerts acknowledged": ("7", "31"),
        "Alerts acknowledged within target": ("6", "28"),
        "Housing: accepted": ("3", "9"),
        "Housing: declined": ("<3", "<3"),
        "Healthcare: made": ("5", "5"),
        "Healthcare: accepted": ("0", "11"),
        # The key that was not a key reads "other" (the need "Other support"), its counts kept.
        "Other support: made": ("0", "3"),
        "Interview booked": ("<3", "6"),
        "Court supported": ("0", "<3"),
        "Other": ("4", "0"),
        "Operations supported": (expect(2), expect(4)),
        "People met under those operations": ("9", "23"),
        "Training sessions held": ("<3", "3"),
        "Attendance at training sessions": ("14", "52"),
        "NASN meetings held": ("<3", "3"),
    }  # fmt: skip
    assert figures == expected
    sections = {row["figure"]: row["section"] for row in rows}
    assert sections["Housing: declined"] == "Onward referrals by need and outcome"
    assert sections["NASN meetings held"] == "NASN"
    assert REFERENCE not in text
    # No 1 or 2 anywhere: every count cell is "<3", 0, 3 or more (or the one decimal of hours).
    assert not {cell for row in rows for cell in (row["quarter"], row["project_to_date"])} & {
        "1", "2"
    }  # fmt: skip


def test_pdf_text_shows_the_headline_figures_and_the_suppression(
    rendered: tuple[list[dict[str, str]], str, bytes],
) -> None:
    _, _, pdf = rendered
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "2026-27-Q3" in text
    assert "Version 2" in text
    assert "People supported (cases opened) 7 31" in text
    assert "Target over the project 100" in text
    assert "Children (handed to children's services) <3 <3" in text
    assert "Hours from police contact to first contact, median 3.5 5.1" in text
    assert "Hours from police contact to first contact, 90th percentile 20.0 31.0" in text
    assert "Housing: declined <3 <3" in text
    assert "Training sessions held <3 3" in text
    assert "NASN meetings held <3 3" in text
    assert REFERENCE not in text
    images = [
        xobject
        for page in reader.pages
        for xobject in cast(dict[str, Any], page["/Resources"]).get("/XObject", {}).values()
        if xobject.get_object()["/Subtype"] == "/Image"
    ]
    assert len(images) >= 2  # people against the target; referrals by need and outcome


def test_hours_of_one_or_two_people_are_suppressed_and_the_pdf_is_deterministic() -> None:
    few = QUARTER.model_copy(update={"people_supported": 2})
    rows = figures_of(event(few), OURS_QUARTER, OURS_TO_DATE)
    figures = {row.figure: (row.quarter, row.project_to_date) for row in rows}
    assert figures["Hours from police contact to first contact, median"] == ("<3", "5.1")
    assert figures["People supported (cases opened)"] == ("<3", "31")
    created = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    assert to_pdf(event(few), rows, 1, created) == to_pdf(event(few), rows, 1, created)
