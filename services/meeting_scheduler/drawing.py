"""Documents drawn in a short-lived child process: agenda PDFs (fpdf2, fontTools) and the funder's
report (matplotlib too).

Those libraries are imported only to draw, yet once imported they stay: fpdf2 and fontTools added
29 MB to the meeting scheduler and its first PDF 12 MB more, so a service that idles at 134 MB sat
at 177 MB after its first agenda for the rest of its life; matplotlib and numpy add more again.
Drawing also held the event loop (a PDF takes a few hundred milliseconds of CPU), so the
consumers stopped while an agenda was drawn. In a child process the memory goes back when it
exits, and the service keeps consuming while it draws. It costs a Python start-up (under a
second) per document; agendas are drawn when published or asked for, a few times a meeting.

A hand-made part, a few lines: multiprocessing's process pools keep their workers (and their
memory) alive, and its spawn start re-imports the parent's `__main__` (FastStream's command line)
in every child. The request and the result cross the pipe pickled; both ends are this service's
own code, so nothing untrusted is unpickled.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from shared.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

DRAWING_SECONDS = 120.0  # a long agenda with matplotlib's start-up on a busy host: seconds
ROOT = Path(__file__).resolve().parents[2]  # where `python -m services…` finds the packages


class DrawingFailed(RuntimeError):
    """The child did not return a document. Its message names the exception type only: what was
    being drawn (names, cases) stays out of errors and logs."""


async def drawn_apart(draw: Callable[..., T], *args: Any) -> T:
    """`draw(*args)` in a child process; `draw` is a module-level function (pickled by name)."""
    request = pickle.dumps((draw, args))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.meeting_scheduler.drawing",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(DRAWING_SECONDS):
            result, failure = await child.communicate(request)
    except TimeoutError:
        raise DrawingFailed("drawing timed out") from None
    finally:
        if child.returncode is None:  # timed out, or the caller was cancelled (a shutdown)
            child.kill()
            await child.wait()
    if child.returncode != 0:
        # The child's stderr holds its exception's type name only (`main`), nothing drawn; any
        # other output (a crash before `main` ran) is not repeated.
        said = failure.decode(errors="replace").strip()
        error_type = said if said.isidentifier() else f"exit {child.returncode}"
        log.error("drawing_failed", error_type=error_type)
        raise DrawingFailed(f"drawing failed: {error_type}")
    drawn: T = pickle.loads(result)  # noqa: S301 - our own child's answer to our own request
    return drawn


def main() -> None:
    draw, args = pickle.load(sys.stdin.buffer)  # noqa: S301 - the parent service's request
    try:
        drawn = draw(*args)
    except Exception as error:  # noqa: BLE001 - reported by type only, see DrawingFailed
        sys.stderr.write(type(error).__name__)
        sys.exit(1)
    sys.stdout.buffer.write(pickle.dumps(drawn))


if __name__ == "__main__":
    main()
