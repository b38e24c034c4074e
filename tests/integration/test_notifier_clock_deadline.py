"""The notifier's clock acts on a timer when it falls due, not at its next poll: whatever commits a
timer tells the clock's loop when it is due (`NotifierDeps.timer_set`, here the referral that opens
a burst batch), after each pass the clock reads when its earliest timer is due
(services/notifier/scheduling.py `next_due`), and its loop wakes then (shared/background.py
`wake_in`). Here the poll is 30 s and a raid's grouped follow-up batch closes a second after it
opens: the follow-up must go out within a fraction of a second of the batch closing. The same run
with the deadlines switched off shows the test can fail: the batch is still collecting two seconds
after it closed, waiting for the poll."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.ack_limits import AckLimiter, AckLimits
from services.notifier.adapters.tables import burst_batches
from services.notifier.deps import NotifierDeps
from services.notifier.policy import load_policy
from services.notifier.raising import raise_for_referral
from services.notifier.rota_book import RotaBook
from services.notifier.scheduling import NotifierClock, next_due
from shared.background import WakeableLoop
from shared.clock import SystemClock
from shared.rota import load_rota
from tests.support import system
from tests.support.events import referral
from tests.support.notifier import migrated_sqlite, write_policy

pytestmark = pytest.mark.integration

POLL = 30.0  # far longer than the test: only the deadline can make the clock run in time
BATCH_SECONDS = 1.0
GROUP = "NFK:operation-clock"


class Recorded:
    """A sender that takes every message at once."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, url: str, title: str, body: str, attachments: Any = ()) -> bool:
        self.sent.append(title)
        return True


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async with migrated_sqlite(tmp_path) as engine:
        yield engine


def deps_on(
    engine: AsyncEngine, policy: Path, wake: Any, wake_in: Any = lambda seconds: None
) -> NotifierDeps:
    rota = load_rota(system.ROOT / "deploy" / "config" / "rota.yaml")
    return NotifierDeps(
        engine=engine, rota_book=RotaBook(rota, engine), policy=load_policy(policy),
        sender=Recorded(), clock=SystemClock(), alerts_topic="t.alerts", public_url="http://x",
        ack_secret=base64.b64decode(base64.b64encode(b"k" * 32)), lease=timedelta(seconds=60),
        wake_scheduler=wake, wake_outbox=lambda: None, wake_dispatch=lambda: None,
        wake_scheduler_in=wake_in, ack_code_ttl=timedelta(hours=24),
        ack_limiter=AckLimiter(engine, b"k" * 32, AckLimits(timedelta(minutes=10), 5, 5, 50)),
    )  # fmt: skip


async def batch_sent_after_close(
    engine: AsyncEngine, tmp_path: Path, with_deadline: bool
) -> float | None:
    """Seconds from the batch's closing time until the clock closed it, or None if it was still
    collecting 2 s after that."""
    policy = write_policy(tmp_path, step_seconds=600, batch_seconds=BATCH_SECONDS)
    ticker: NotifierClock | None = None

    async def tick() -> None:
        assert ticker is not None
        await ticker.tick()

    scheduler = WakeableLoop("notifier_clock", tick, POLL)
    deadline = scheduler.wake_in if with_deadline else None
    deps = deps_on(engine, policy, scheduler.wake, deadline or (lambda seconds: None))
    ticker = NotifierClock(deps, deadline)
    # A finished send would wake the clock (main.py gives it a loop of its own): not here, so
    # nothing but the deadline or the poll runs the clock once the first page is out.
    ticker.dispatcher.wake_on_free_slot = lambda: None
    await scheduler.start()
    try:
        now = datetime.now(UTC)
        first, second = (
            referral(f"MS-2026-C{n:04d}", now, operation_group=GROUP, operation="Clock")
            for n in (1, 2)
        )
        assert await raise_for_referral(first, deps) == "raised"
        assert await raise_for_referral(second, deps) == "grouped"
        async with engine.connect() as connection:
            send_at: datetime = (
                await connection.execute(sa.select(burst_batches.c.send_at))
            ).scalar_one()
        assert await next_due(deps) is not None
        closes: float = time.monotonic() + (send_at - datetime.now(UTC)).total_seconds()
        while time.monotonic() < closes + 2.0:
            async with engine.connect() as connection:
                status = (await connection.execute(sa.select(burst_batches.c.status))).scalar_one()
            if status == "sent":
                return time.monotonic() - closes
            await asyncio.sleep(0.02)
        return None
    finally:
        await scheduler.stop()


async def test_a_batch_is_sent_when_it_closes_not_at_the_next_poll(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    late = await batch_sent_after_close(engine, tmp_path, with_deadline=True)
    assert late is not None, f"the batch was not sent within 2 s of closing (poll {POLL:g} s)"
    print(f"sent {late:.3f} s after the batch closed")
    assert late < 0.5, f"sent {late:.2f} s after the batch closed"


async def test_without_the_deadline_the_batch_waits_for_the_poll(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    assert await batch_sent_after_close(engine, tmp_path, with_deadline=False) is None


async def test_nothing_waiting_means_no_deadline(engine: AsyncEngine, tmp_path: Path) -> None:
    deps = deps_on(engine, write_policy(tmp_path, step_seconds=600), lambda: None)
    assert await next_due(deps) is None
    asked: list[float] = []
    await NotifierClock(deps, asked.append).tick()
    assert asked == []  # an empty clock waits for its poll (or a wake), nothing sooner
