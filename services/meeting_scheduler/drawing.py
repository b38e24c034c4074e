"""Documents are drawn off the event loop, one at a time, on one thread kept for drawing.

An agenda PDF takes tenths of a second of CPU, more than a second the first time (the fonts), and
a funder report with its charts about a second (fpdf2, matplotlib). Drawn on the event loop, the
service stops consuming and answering health checks meanwhile (tests/service/test_agenda_drawing.py).
On asyncio's default executor several could be drawn at once: each holds its own memory, and
every one of them competes with the event loop for the GIL. One thread for every drawing of the
process keeps drawings in order and the loop nearly free (it still takes the GIL in turns with
the drawing: pauses of hundredths of a second).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Its thread starts at the first drawing and is joined when the interpreter exits.
_DRAWER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drawing")


async def drawn(draw: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`draw(*args, **kwargs)` on the drawing thread, after any drawing already queued."""
    return await asyncio.get_running_loop().run_in_executor(_DRAWER, partial(draw, *args, **kwargs))
