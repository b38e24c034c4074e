"""Waits always have a limit: poll a condition, fail with a message when time runs out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    within: float = 15.0,
    what: str = "condition",
) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within}s; last value: {value!r}")
        await asyncio.sleep(0.1)


async def wait_until(
    predicate: Callable[[], bool], within: float = 15.0, what: str = "condition"
) -> None:
    """`eventually` for a plain, synchronous check."""

    async def probe() -> bool:
        return predicate()

    await eventually(probe, bool, within=within, what=what)
