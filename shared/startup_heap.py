"""Once a service has started, the objects it made while starting are taken out of the garbage
collector's walks (`gc.freeze`).

Why: a service's imports alone leave 155,000-175,000 tracked objects that live as long as the
process (modules, classes, SQLAlchemy tables, pydantic validators), and building the app adds
more. CPython's full collection (generation 2) walks every tracked object, so each one stopped
the whole process, event loop included: 80-356 ms in the services' start-ups as the bench starts
them, and 0.38 s while the meeting scheduler drew an agenda in a test process (about 250,000
objects; `gc.callbacks`, the 2-core machine). Walking those objects frees nothing. Frozen, a full
collection walks only what was made since: 0.05 s in the same drawing. After the first full
collection that follows the freeze, they come more often (CPython starts one when the objects
that survived since the last reach a quarter of those it walks), each much shorter.

A full collection holds the GIL: threads inside C with the GIL released (sqlite3 running a
statement) carry on, but no Python code runs, the event loop's included.

What it costs: one more full collection at the end of start-up. A frozen object that later
becomes unreachable in a reference cycle is never freed, nor what only that cycle still refers
to. So the heap is collected first (nothing already garbage is frozen), and it is done once a
process, after start-up, when what remains is what the service keeps. What is imported later
(the meeting scheduler's fpdf2 and matplotlib, at its first drawing) is walked as before:
importing it at start instead would cost memory every meeting-scheduler process holds, drawing
or not.
"""

from __future__ import annotations

import gc

from shared.logging import get_logger

log = get_logger(__name__)


class _Once:
    """Whether this process has frozen its heap already (or must not)."""

    done = False


def freeze_startup_heap() -> int:
    """Collect, then freeze every tracked object; once a process (later calls do nothing).
    Returns how many objects are frozen."""
    if not _Once.done:
        _Once.done = True
        gc.collect()
        gc.freeze()
        log.info("startup_heap_frozen", objects=gc.get_freeze_count())
    return gc.get_freeze_count()


def keep_heap_unfrozen() -> None:
    """For a process that starts many apps in turn rather than being one service (the test
    suite): freezing its heap at the first app's start would keep that app's cycles, and every
    other test's then, for the rest of the run."""
    _Once.done = True
