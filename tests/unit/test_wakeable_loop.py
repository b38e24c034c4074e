"""shared/background.py: a job runs when woken, at its poll, and, when its own pass asks with
`wake_in`, at that time even if the poll is far later; the request holds for one wait only."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

import pytest

from shared import background
from shared.background import WakeableLoop
from tests.support.waiting import wait_until


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


async def test_a_failed_pass_is_retried_soon_then_less_often_up_to_the_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A passing fault costs the first retry's pause, not the poll (a minute for the notifier's
    sends); a lasting one backs off, doubling, to the poll; a success starts the count again.
    Scaled down (first retry 0.1 s, poll 1 s). Each gap has its lower bound (a sleep is never
    short). The pauses the loop chose are read from its log line, so the doubling, the cap and
    the restart are checked exactly: a full run once stalled this process 2 s inside the capped
    gap, which a wall-clock upper bound read as no cap. The wall clock still shows that a retry
    follows its pause rather than the poll (at least 1.1 s here)."""
    monkeypatch.setattr(background, "FIRST_RETRY_SECONDS", 0.1)
    pauses: list[float] = []

    class Recorder:
        def warning(self, event: str, **fields: float) -> None:
            pauses.append(fields["retry_in_seconds"])

    monkeypatch.setattr(background, "log", Recorder())
    runs: list[float] = []
    done = asyncio.Event()
    outcomes = iter([False] * 5 + [True, False])  # False: the pass fails

    async def run_once() -> None:
        runs.append(time.monotonic())
        ok = next(outcomes, True)
        if len(runs) == 8:
            done.set()
        if not ok:
            raise ConnectionError("database restarting")

    loop = WakeableLoop("test", run_once, poll_seconds=1.0)
    await loop.start()
    try:
        loop.wake()
        async with asyncio.timeout(20):
            await done.wait()
        gaps = [b - a for a, b in itertools.pairwise(runs)]
        # 0.1, 0.2, 0.4, 0.8, then 1.6 capped at the 1 s poll; the poll after the success; 0.1.
        for gap, least in zip(gaps, [0.09, 0.19, 0.39, 0.79, 0.95, 0.95, 0.09], strict=True):
            assert gap >= least, gaps
        # Doubling, capped at the poll (1.6 s without the cap), restarted after the success.
        assert pauses == [0.1, 0.2, 0.4, 0.8, 1.0, 0.1]
        assert gaps[0] < 1.05, gaps  # the old loop: a poll's sleep, then a poll's wait (2 s)
        assert gaps[6] < 1.05, gaps  # a retry that waited for the poll: 1.1 s or more
    finally:
        await loop.stop()


async def test_a_stop_with_grace_lets_the_pass_under_way_finish_and_starts_no_other() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def run_once() -> None:
        started.set()
        await release.wait()
        finished.append(len(finished))

    loop = WakeableLoop("test", run_once, poll_seconds=30.0)
    await loop.start()
    loop.wake()
    async with asyncio.timeout(5):
        await started.wait()
    loop.wake()  # asked for again while the pass runs: owed after the stop
    asyncio.get_running_loop().call_later(0.1, release.set)
    assert await loop.stop(grace_seconds=5.0) is True
    assert finished == [0], "the pass under way finished; the second was not started"


async def test_a_stop_cuts_off_a_pass_that_outlasts_its_grace_and_says_so() -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def run_once() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    loop = WakeableLoop("test", run_once, poll_seconds=30.0)
    await loop.start()
    loop.wake()
    async with asyncio.timeout(5):
        await started.wait()
    begun = time.monotonic()
    assert await loop.stop(grace_seconds=0.1) is True
    assert time.monotonic() - begun < 2.0
    assert cancelled == [True]


async def test_a_stop_owes_nothing_after_a_finished_pass_and_a_failed_one_is_owed() -> None:
    outcomes = iter([True, False])
    runs: list[bool] = []

    async def run_once() -> None:
        ok = next(outcomes)
        runs.append(ok)
        if not ok:
            raise ConnectionError("database restarting")

    loop = WakeableLoop("test", run_once, poll_seconds=30.0)
    await loop.start()
    loop.wake()
    await wait_until(lambda: len(runs) == 1, within=5, what="first pass")
    await asyncio.sleep(0.05)
    assert await loop.stop(grace_seconds=1.0) is False
    await loop.start()
    loop.wake()
    await wait_until(lambda: len(runs) == 2, within=5, what="second pass")
    await asyncio.sleep(0.05)  # in the retry's pause
    assert await loop.stop(grace_seconds=1.0) is True


async def test_a_stop_that_is_itself_cancelled_still_stops_and_the_loop_can_start_again() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[int] = []

    async def run_once() -> None:
        runs.append(len(runs))
        started.set()
        if len(runs) == 1:
            await release.wait()

    loop = WakeableLoop("test", run_once, poll_seconds=30.0)
    await loop.start()
    loop.wake()
    async with asyncio.timeout(5):
        await started.wait()
    stopping = asyncio.create_task(loop.stop(grace_seconds=30.0))
    await asyncio.sleep(0.05)
    stopping.cancel()  # e.g. a shutdown that ran out of time
    with contextlib.suppress(asyncio.CancelledError):
        await stopping
    await loop.start()
    loop.wake()
    await wait_until(lambda: len(runs) == 2, within=5, what="a pass after the restart")
    await loop.stop()
