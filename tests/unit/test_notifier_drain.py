"""A clean stop of the notifier sends nothing twice: a send is not started once the dispatcher
drains, even by a pass of `deliver_due` that was already reading the due notifications when the
drain began (its sends would be cut off at exit, sent but not recorded, and sent again by another
process when their lease ran out); a pass already claiming its notifications when the drain began
starts their sends, and the drain waits for those."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.notifier import delivering
from services.notifier.delivering import Dispatcher
from services.notifier.deps import NotifierDeps


class HeldQuery:
    """An engine whose one query waits until released, then answers `due`."""

    dialect = SimpleNamespace(name="sqlite")

    def __init__(self, due: list[str]) -> None:
        self.due = due
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def connect(self) -> HeldQuery:
        return self

    async def __aenter__(self) -> HeldQuery:
        self.entered.set()
        await self.release.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: object) -> SimpleNamespace:
        return SimpleNamespace(scalars=lambda: SimpleNamespace(all=lambda: list(self.due)))


def dispatcher_on(
    monkeypatch: pytest.MonkeyPatch,
    engine: HeldQuery,
    hold: asyncio.Event | None = None,
    claim_held: tuple[asyncio.Event, asyncio.Event] | None = None,
) -> tuple[Dispatcher, list[str]]:
    """A dispatcher reading `engine`, whose claims take every id asked for (`claim_held`: set the
    first event on entering, wait for the second) and whose sends only note their id (and wait
    for `hold`)."""
    started: list[str] = []

    async def claim(deps: Any, notification_ids: list[str], now: datetime) -> list[Any]:
        if claim_held is not None:
            claim_held[0].set()
            await claim_held[1].wait()
        return [SimpleNamespace(row=SimpleNamespace(notification_id=n)) for n in notification_ids]

    async def send(deps: Any, claimed: Any) -> int:
        started.append(claimed.row.notification_id)
        if hold is not None:
            await hold.wait()  # still in flight meanwhile
        return 1

    monkeypatch.setattr(delivering, "_claim", claim)
    monkeypatch.setattr(delivering, "_send", send)
    deps = SimpleNamespace(
        engine=engine, clock=SimpleNamespace(now=lambda: datetime.now(UTC)),
        wake_scheduler=lambda: None,
    )  # fmt: skip
    return Dispatcher(cast(NotifierDeps, deps)), started


async def test_a_pass_reading_when_the_drain_begins_starts_no_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = HeldQuery(["n-1", "n-2"])
    dispatcher, started = dispatcher_on(monkeypatch, engine)

    reading = asyncio.create_task(dispatcher.deliver_due())
    await engine.entered.wait()
    draining = asyncio.create_task(dispatcher.drain())
    await asyncio.sleep(0)
    engine.release.set()

    assert await reading == 0
    await asyncio.wait_for(draining, 1)  # nothing was in flight: returns once the pass has
    await asyncio.sleep(0)
    assert started == []
    assert await dispatcher.deliver_due() == 0  # and no later pass starts one either


async def test_without_a_drain_the_same_pass_starts_the_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: the held query itself does not stop sends."""
    engine = HeldQuery(["n-1", "n-2"])
    dispatcher, started = dispatcher_on(monkeypatch, engine)
    engine.release.set()
    assert await dispatcher.deliver_due() == 2
    await asyncio.sleep(0)
    assert started == ["n-1", "n-2"]


async def test_two_passes_reading_at_once_keep_to_the_cap_and_start_each_send_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The clock's pass and the slot-freed loop (services/notifier/main.py) may both be in
    deliver_due: together they start at most DELIVERY_CONCURRENCY sends, none twice."""
    hold = asyncio.Event()
    engine = HeldQuery([f"n-{number}" for number in range(20)])  # both passes wait in it
    dispatcher, started = dispatcher_on(monkeypatch, engine, hold)
    passes = [asyncio.create_task(dispatcher.deliver_due()) for _ in range(2)]
    await asyncio.sleep(0)
    engine.release.set()
    counts = await asyncio.gather(*passes)
    await asyncio.sleep(0)
    assert sum(counts) == delivering.DELIVERY_CONCURRENCY
    assert sorted(started) == sorted(set(started))
    assert len(started) == delivering.DELIVERY_CONCURRENCY
    hold.set()
    await asyncio.wait_for(dispatcher.drain(), 1)


async def test_a_drain_beginning_during_a_claim_waits_for_the_sends_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The claim has taken the leases by the time the pass sees the drain: its sends start, and
    the drain returns only once they have finished (recorded), not while they are under way."""
    engine, hold = HeldQuery(["n-1", "n-2"]), asyncio.Event()
    claim_entered, claim_released = asyncio.Event(), asyncio.Event()
    engine.release.set()
    dispatcher, started = dispatcher_on(monkeypatch, engine, hold, (claim_entered, claim_released))
    claiming = asyncio.create_task(dispatcher.deliver_due())
    await claim_entered.wait()
    draining = asyncio.create_task(dispatcher.drain())
    await asyncio.sleep(0)
    claim_released.set()
    assert await claiming == 2
    await asyncio.sleep(0)
    assert started == ["n-1", "n-2"]
    assert not draining.done()  # the sends are under way
    hold.set()
    await asyncio.wait_for(draining, 1)


async def test_a_drain_waits_no_longer_than_its_limit_for_a_stuck_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The graceful stop's budget covers the claim too: a claim that never ends (a database that
    stopped answering) does not hold the stop past DRAIN_SECONDS."""
    monkeypatch.setattr(delivering, "DRAIN_SECONDS", 0.2)
    engine = HeldQuery(["n-1"])
    engine.release.set()
    claim_entered, never = asyncio.Event(), asyncio.Event()
    dispatcher, started = dispatcher_on(monkeypatch, engine, None, (claim_entered, never))
    stuck = asyncio.create_task(dispatcher.deliver_due())
    await claim_entered.wait()
    await asyncio.wait_for(dispatcher.drain(), 2)
    assert started == []
    stuck.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stuck
