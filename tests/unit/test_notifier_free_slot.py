"""A finished send looks for more work at once only when there is some to find: due
notifications left waiting for a slot, or a failed send (whose fallback notification may be due
now). Otherwise new work comes with its own wake, and a look would find nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.notifier import delivering
from services.notifier.delivering import DELIVERY_CONCURRENCY, Dispatcher
from services.notifier.deps import NotifierDeps


class DueNow:
    """An engine whose query answers the due ids."""

    def __init__(self, due: list[str], dialect: str) -> None:
        self.due = due
        self.dialect = SimpleNamespace(name=dialect)

    def connect(self) -> DueNow:
        return self

    async def __aenter__(self) -> DueNow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, query: object) -> SimpleNamespace:
        return SimpleNamespace(scalars=lambda: SimpleNamespace(all=lambda: list(self.due)))


async def wakes_after_sends(
    monkeypatch: pytest.MonkeyPatch,
    due: list[str],
    delivered: bool,
    dialect: str = "sqlite",
    claims_fail_after: int | None = None,
) -> int:
    """Runs one pass over `due`, lets its sends finish (each delivered or not), and returns how
    many times a finished send woke the dispatcher. `claims_fail_after`: that many claims
    succeed, then a second pass runs whose claim raises, before the sends finish."""
    finish = asyncio.Event()
    claims = 0

    async def claim(deps: Any, notification_ids: list[str], now: datetime) -> list[Any]:
        nonlocal claims
        claims += 1
        if claims_fail_after is not None and claims > claims_fail_after:
            raise ConnectionError("the database went away")
        return [SimpleNamespace(row=SimpleNamespace(notification_id=n)) for n in notification_ids]

    async def send(deps: Any, claimed: Any) -> int:
        await finish.wait()
        return int(delivered)

    monkeypatch.setattr(delivering, "_claim", claim)
    monkeypatch.setattr(delivering, "_send", send)
    deps = SimpleNamespace(
        engine=(engine := DueNow(due, dialect)), clock=SimpleNamespace(now=lambda: datetime.now(UTC)),
        wake_scheduler=lambda: None,
    )  # fmt: skip
    dispatcher = Dispatcher(cast(NotifierDeps, deps))
    wakes: list[int] = []
    dispatcher.wake_on_free_slot = lambda: wakes.append(1)
    started = await dispatcher.deliver_due()
    assert started == min(len(due), DELIVERY_CONCURRENCY)
    if claims_fail_after is not None:
        engine.due = [*due, "n-new-1", "n-new-2"]
        with pytest.raises(ConnectionError):
            await dispatcher.deliver_due()  # e.g. the clock's pass, as a new alert's work waits
    sends = list(dispatcher._in_flight.values())
    finish.set()
    await asyncio.wait(sends)
    await asyncio.sleep(0)  # the sends' done callbacks (where the wake is decided) have run
    return len(wakes)


async def test_sends_that_leave_nothing_due_do_not_look_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await wakes_after_sends(monkeypatch, ["n-1", "n-2"], delivered=True) == 0


async def test_sends_with_notifications_waiting_for_a_slot_look_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    due = [f"n-{number}" for number in range(DELIVERY_CONCURRENCY + 2)]
    assert await wakes_after_sends(monkeypatch, due, delivered=True) >= 1


async def test_a_failed_send_looks_again_for_its_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await wakes_after_sends(monkeypatch, ["n-1"], delivered=False) == 1


async def test_a_pass_that_failed_leaves_the_next_freed_slot_looking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two due, one slot-filling pass sends them; a second pass (two more now due, say) fails at
    # its claim. Its notifications are still due and unleased: a freed slot looks at once.
    woken = await wakes_after_sends(monkeypatch, ["n-1", "n-2"], True, claims_fail_after=1)
    assert woken >= 1


async def test_with_several_notifiers_a_finished_send_always_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On PostgreSQL another notifier's alert may be waiting for any slot; this process cannot
    # know, so each finished send looks.
    assert await wakes_after_sends(monkeypatch, ["n-1", "n-2"], True, dialect="postgresql") == 2
