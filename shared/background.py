"""A background job that runs when woken and at least every `poll_seconds`.

Waking gives low latency (work right after a commit); the poll is the safety net that finds work
left behind by a crash, a broker outage or a failed attempt. A job that knows when its next timer
is due says so with `wake_in` (from its own pass, or from whatever committed a new timer), and runs
then even if that is sooner than the poll: a timer fires on time however slow the poll is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from shared.logging import get_logger

log = get_logger(__name__)

# After a failed pass the job tries again in half a second, then in twice the time after each
# further failure, up to its poll: a passing fault (a busy or restarting database) costs a
# moment, not a whole poll (the notifier's send loop polls once a minute), and a lasting one is
# retried, and logged, no more often than that.
FIRST_RETRY_SECONDS = 0.5


class WakeableLoop:
    def __init__(
        self, name: str, run_once: Callable[[], Awaitable[object]], poll_seconds: float
    ) -> None:
        self._name, self._run_once, self._poll = name, run_once, poll_seconds
        self._changed = asyncio.Event()  # a wake, or a deadline sooner than the wait's end
        self._woken = False
        self._task: asyncio.Task[None] | None = None
        self._deadline: float | None = None  # the event loop's time of the next run, if sooner
        self._pass: asyncio.Future[None] | None = None  # set while a pass runs; done as it ends
        self._stopping = False

    def wake(self) -> None:
        self._woken = True
        self._changed.set()

    def wake_in(self, seconds: float) -> None:
        """Run again within `seconds` (or at the poll, if that is sooner). Called by the job's own
        pass, which knows its next timer, or after a commit that made a new timer: a wait already
        under way is shortened to it. A pass clears the deadline as it starts, so whatever sets a
        timer must do so after its commit (that pass, or the next, sees the timer itself)."""
        deadline = asyncio.get_running_loop().time() + max(0.0, seconds)
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
            self._changed.set()

    @property
    def pending(self) -> bool:
        """A run was asked for (a wake, or a deadline) and has not started yet."""
        return self._woken or self._deadline is not None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self, grace_seconds: float = 0.0) -> bool:
        """Stops the job: no pass starts after this, and a pass under way is given up to
        `grace_seconds` to finish before it is cancelled. Returns whether work is still owed: a
        pass was cut off, or a run asked for (a wake, a deadline) had not started."""
        self._stopping = True
        try:
            if self._task is not None and self._pass is not None and grace_seconds > 0:
                # Shielded: the timeout ends this wait, not the pass; the cancel below does that.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(grace_seconds):
                        await asyncio.shield(self._pass)
        finally:
            # Also when this stop is itself cancelled: the job must not be left running, or
            # stopping for good (a later start's task would end at its first wait).
            cut_off = self._task is not None and self._pass is not None
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._task = None
            owed = cut_off or self.pending
            self._woken, self._deadline = False, None  # what was asked of this run is over
            self._pass, self._stopping = None, False
        return owed

    async def _run(self) -> None:
        failures = 0  # passes failed in a row
        while True:
            await self._wait()
            if self._stopping:
                return  # stop() is waiting out a pass that has just ended; no other starts
            self._woken = False
            self._deadline = None  # this pass sets the next one, if it has a timer
            self._pass = asyncio.get_running_loop().create_future()
            try:
                await self._run_once()
                failures = 0
            except Exception as error:  # noqa: BLE001 - the work waits in the database; retry
                self._end_pass()
                failures += 1
                # The exponent's cap only keeps the float finite: 0.5 s × 2³⁰ is past any poll.
                pause = min(self._poll, FIRST_RETRY_SECONDS * 2 ** min(failures - 1, 30))
                log.warning(f"{self._name}_failed", error_type=type(error).__name__,
                            failures=failures, retry_in_seconds=pause)  # fmt: skip
                # Not cut short by a wake: whatever woke the job meets the same fault. Then the
                # retry runs at once, not at the next poll; until then the run is owed (`pending`).
                self._woken = True
                await asyncio.sleep(pause)
            finally:
                self._end_pass()

    def _end_pass(self) -> None:
        if self._pass is not None:
            self._pass.set_result(None)
            self._pass = None

    async def _wait(self) -> None:
        """Until woken, the deadline or the poll, whichever comes first; a deadline set during
        the wait counts from when it is set."""
        loop = asyncio.get_running_loop()
        polled_at = loop.time() + self._poll
        while not self._woken:
            ends = polled_at if self._deadline is None else min(polled_at, self._deadline)
            if loop.time() >= ends:
                return
            self._changed.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that lands as the wake event fires, and stop() then waits for ever (seen in a test).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(ends):
                    await self._changed.wait()
