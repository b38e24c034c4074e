"""Documents drawn in a child process (services/meeting_scheduler/drawing.py): the same bytes as
drawing in-process, none of the drawing libraries left in the service, a failure reported by its
type alone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.meeting_scheduler.drawing import DrawingFailed, drawn_apart
from services.meeting_scheduler.printing import to_pdf
from tests.support.seeded_agenda import seeded_layout

CANARY = "Zofia Canary-Wiśniewska"


def pid_of_drawer() -> int:
    return os.getpid()


def fails_naming_someone(name: str) -> bytes:
    raise ValueError(f"cannot draw {name}")


async def test_a_pdf_drawn_apart_is_the_pdf_drawn_here() -> None:
    layout = seeded_layout()
    assert await drawn_apart(to_pdf, layout) == to_pdf(layout)  # deterministic bytes


async def test_it_is_drawn_in_another_process() -> None:
    assert await drawn_apart(pid_of_drawer) != os.getpid()


def test_drawing_leaves_no_drawing_library_in_the_service() -> None:
    # In a fresh interpreter (this one's tests import fpdf themselves): after an agenda PDF is
    # drawn the way the service draws it, neither fpdf2 nor fontTools is loaded in the service.
    program = (
        "import asyncio, sys\n"
        "from services.meeting_scheduler.drawing import drawn_apart\n"
        "from services.meeting_scheduler.printing import to_pdf\n"
        "from tests.support.seeded_agenda import seeded_layout\n"
        "pdf = asyncio.run(drawn_apart(to_pdf, seeded_layout()))\n"
        "assert pdf.startswith(b'%PDF'), pdf[:20]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'fpdf', 'fontTools'}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    assert run.stdout.strip() == "[]", run.stdout


async def test_a_failure_names_the_error_type_and_nothing_drawn(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DrawingFailed) as raised:
        await drawn_apart(fails_naming_someone, CANARY)
    assert str(raised.value) == "drawing failed: ValueError"
    captured = capsys.readouterr()
    assert CANARY not in captured.out + captured.err + caplog.text
