"""The printed case-panel agenda: a seeded agenda rendered to PDF, page 1 drawn to PNG by poppler
(pdftoppm, Debian's poppler-utils) and looked at as an image, and the PDF's text read back by
pypdf: sections, table headers, the marking and page numbers on every page, and letters outside
Latin-1 exactly as written. Expected strings are written out here, not taken from the code."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from services.meeting_scheduler.printing import to_html, to_markdown, to_pdf
from tests.support.seeded_agenda import CANARY, page_one_png, seeded_layout

SECTIONS = (
    "1. Attendance and apologies",
    "2. Actions from the last meeting",
    "3. New cases",
    "4. Reviews carried over",
    "5. Actions due",
    "6. Any other business",
)
NEW_CASES_HEADER = (
    "# Reference Urgency District Pathway Exploitation Open needs Days since contact "
    "Assigned advisor"
)


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return to_pdf(seeded_layout())


def _pages(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm (poppler-utils)")
def test_page_one_renders_as_a_real_image(pdf: bytes, tmp_path: Path) -> None:
    png = tmp_path / "page1.png"
    page_one_png(pdf, png, dpi=100)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(png) as image:
        assert image.size == (827, 1170)  # A4 at 100 dpi
        grey = image.convert("L")
        histogram = grey.histogram()
    pixels = sum(histogram)
    ink = sum(histogram[:128]) / pixels  # dark pixels: text, rules
    paper = sum(histogram[224:]) / pixels
    assert 0.02 < ink < 0.30, f"{ink:.3f} of page 1 is ink: blank or a black page"
    assert paper > 0.6, f"only {paper:.3f} of page 1 is paper"
    # Text rows: dark pixels spread down the page, not one blot.
    width = grey.width
    rows_with_ink = [
        y for y in range(0, grey.height, 10) if min(grey.crop((0, y, width, y + 1)).tobytes()) < 100
    ]
    assert len(rows_with_ink) > 40


def test_pdf_text_has_the_sections_tables_marking_and_page_numbers(pdf: bytes) -> None:
    pages = _pages(pdf)
    text = " ".join(pages)
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions), "sections in the agenda's order"
    assert "Organisation or role Attendance" in text
    assert "# Case Action Owner Due" in text
    assert text.count(NEW_CASES_HEADER) == 2  # new cases, reviews carried over
    assert "Reference Overdue tasks" in text
    assert "MS-2026-Q8ZR2T First contact, Mental health" in text
    assert "Confirm the safe house place The Salvation Army 27 November 2026 (overdue)" in text
    assert (
        "Version: Version 2, sent Monday 30 November 2026, 10:00 GMT (revised: replaces version 1)"
        in text
    )
    assert "When: Wednesday 2 December 2026, 10:00–11:30 GMT" in text
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert page.startswith("OFFICIAL-SENSITIVE"), f"page {number} header"
        assert page.endswith(f"OFFICIAL-SENSITIVE Page {number} of {len(pages)}"), page[-80:]
    for raw in ("legal_advice", "safe_accommodation", "kings_lynn", "duty_to_notify", "_"):
        assert raw not in text


def test_letters_outside_latin_1_print_as_written(pdf: bytes) -> None:
    text = " ".join(_pages(pdf))
    assert f"Training offer from {CANARY} (Fundacja Razem) (coordinator)" in text
    assert f"{CANARY} interpreters Apologies" in text
    assert "?" not in text


def test_markdown_html_and_pdf_say_the_same(pdf: bytes) -> None:
    layout = seeded_layout()
    markdown, html, text = to_markdown(layout), to_html(layout), " ".join(_pages(pdf))
    for phrase in (
        CANARY, "King's Lynn and West Norfolk", "Safe accommodation, Legal advice",
        "NRM decision pending", "Immediate, added after the cut-off", *SECTIONS,
        "Onward referrals of the reviews", "anglia-immigration-advice-network",
        "Declined: the person could not be reached",
    ):  # fmt: skip
        assert phrase in markdown
        assert phrase in html
        assert phrase in text
