"""shared/background.py: a job runs when woken, at its poll, and, when its own pass asks with
`wake_in`, at that time even if the poll is far later; the request holds for one wait only."""

from __future__ import annotations

import asyncio
import itertools
import time

from shared.background import WakeableLoop


async def test_a_pass_that_asks_to_run_again_soon_runs_before_the_poll() -> None:
    runs: list[float] = []
    second = asyncio.Event()
    loop: WakeableLoop

    async def run_once() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            loop.wake_in(0.2)
        else:
            second.set()

    loop = WakeableLoop("test", run_once, poll_seconds=30.0)
    await loop.start()
    try:
        loop.wake()
        async with asyncio.timeout(5):
            await second.wait()
        assert 0.15 < runs[1] - runs[0] < 1.0
        await asyncio.sleep(0.6)
        assert len(runs) == 2, "the deadline was used once; the next wait is the poll's"
    finally:
        await loop.stop()


async def test_the_sooner_of_two_requests_wins_and_the_poll_caps_a_late_one() -> None:
    runs: list[float] = []
    third = asyncio.Event()
    loop: WakeableLoop

    async def run_once() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            loop.wake_in(10.0)
            loop.wake_in(0.1)
        elif len(runs) == 2:
            loop.wake_in(60.0)  # later than the poll: the poll comes first
        else:
            third.set()

    loop = WakeableLoop("test", run_once, poll_seconds=0.4)
    await loop.start()
    try:
        loop.wake()
        async with asyncio.timeout(5):
            await third.wait()
        assert runs[1] - runs[0] < 0.35
        assert 0.3 < runs[2] - runs[1] < 1.5
    finally:
        await loop.stop()


async def test_a_deadline_set_during_a_wait_shortens_it() -> None:
    """A timer committed outside the job (a raised alert's next step) is set while the loop waits
    for its poll: the wait ends at the timer, not at the poll it had already started."""
    runs: list[float] = []
    ran = asyncio.Event()

    async def run_once() -> None:
        runs.append(time.monotonic())
        ran.set()

    loop = WakeableLoop("test", run_once, poll_seconds=30.0)
    await loop.start()
    try:
        await asyncio.sleep(0.1)  # waiting for the 30 s poll by now
        asked = time.monotonic()
        loop.wake_in(0.2)
        loop.wake_in(5.0)  # a later timer does not move the sooner one
        async with asyncio.timeout(5):
            await ran.wait()
        assert 0.15 < runs[0] - asked < 1.0
    finally:
        await loop.stop()


async def test_a_failed_pass_is_retried_soon_then_less_often_up_to_the_poll() -> None:
    """A passing fault costs half a second, not the poll (a minute for the notifier's sends);
    a lasting one backs off, doubling, and a success starts the count again."""
    runs: list[float] = []
    done = asyncio.Event()
    outcomes = iter([False, False, False, True, False, True])  # False: the pass fails

    async def run_once() -> None:
        runs.append(time.monotonic())
        ok = next(outcomes, True)
        if len(runs) == 6:
            done.set()
        if not ok:
            raise ConnectionError("database restarting")

    loop = WakeableLoop("test", run_once, poll_seconds=1.5)
    await loop.start()
    try:
        loop.wake()
        async with asyncio.timeout(10):
            await done.wait()
        gaps = [b - a for a, b in itertools.pairwise(runs)]
        assert 0.4 < gaps[0] < 0.8, gaps  # 0.5 s after the first failure
        assert 0.9 < gaps[1] < 1.3, gaps  # 1 s after the second
        assert 1.4 < gaps[2] < 1.8, gaps  # 2 s after the third, capped at the 1.5 s poll
        assert 1.4 < gaps[3] < 1.8, gaps  # a success: the next run is the poll's
        assert 0.4 < gaps[4] < 0.8, gaps  # the count started again
    finally:
        await loop.stop()
