"""Rate limits on acknowledging by code: per client (IP address), per code, and a global budget
of failures, in fixed windows kept in the notifier's database (so they hold across restarts and
replicas). An attempt reserves a slot in all three at once, or none (one transaction); a success
gives its slots back, so only failures count. Keys are HMACs, never the address or the code.

Why guessing is hopeless (the defaults; `guess_hit_probability` computes it, a unit test holds it):
  codes        12 characters of a 32-letter alphabet: 32**12 = 2**60 ≈ 1.15e18 codes
  open codes   at most 1e5 valid at once, a generous bound: a code lives 24 h; an immediate alert
               under the shipped policy makes ≤ 8 steps × ≤ 37 people-notifications × 3 channels
               ≈ 111 codes, and even a national service raises well under 1,000 alerts a day
  one guess    hits some open code with p ≤ 1e5 / 1.15e18 ≈ 8.7e-14
  global       60 failures per 15 min = 240 an hour, from all clients together
               = 2.1e6 guesses a year → P(any hit in a year) ≈ 1.8e-7
  one client   10 failures per 15 min = 40 an hour = 3.5e5 a year → ≈ 3.0e-8 a year
  no budget    (for comparison) 10,000 addresses each at the client limit: 3.5e9 guesses a year
               → ≈ 3.0e-4 a year: the global budget is what makes a botnet hopeless too
  before       8 characters (40 bits), no expiry, no limit: with 100,000 codes ever issued all
               still valid, 1,000 guesses a second expected a hit in about 3 hours
The price of the global budget: an attacker can spend it and make codes answer 429 for everyone
until the window ends. The signed links are not limited by it (HMAC-SHA256, 128 bits, not
guessable), so an advisor can always acknowledge with the link, or call in."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.tables import ack_attempt_windows
from shared.db import insert_ignoring_duplicates

Scope = Literal["client", "code", "global"]


@dataclass(frozen=True)
class AckLimits:
    window: timedelta
    per_client: int  # failed attempts per client per window
    per_code: int  # failed attempts on one code value per window
    global_failures: int  # failed attempts from everyone together per window


@dataclass(frozen=True)
class Reserved:
    window_start: datetime
    keys: tuple[tuple[Scope, str], ...]


@dataclass(frozen=True)
class Limited:
    scope: Scope
    retry_after_seconds: int


def window_start(now: datetime, window: timedelta) -> datetime:
    """The fixed window `now` falls in, aligned on the epoch (the same for every replica)."""
    size = window.total_seconds()
    return datetime.fromtimestamp(math.floor(now.timestamp() / size) * size, UTC)


def retry_after_seconds(now: datetime, window: timedelta) -> int:
    """Whole seconds until the window ends (at least 1): the Retry-After header."""
    end = window_start(now, window) + window
    return max(1, math.ceil((end - now).total_seconds()))


def guess_hit_probability(alphabet: int, length: int, open_codes: int, guesses: float) -> float:
    """Chance that `guesses` random codes hit at least one of `open_codes` valid ones."""
    per_guess = open_codes / alphabet**length
    return -math.expm1(guesses * math.log1p(-per_guess))


class AckLimiter:
    """`ack_attempts_total` counts every outcome in this process (acknowledged, refused:<why>,
    limited:<scope>), for the operators' metrics."""

    def __init__(self, engine: AsyncEngine, key: bytes, limits: AckLimits) -> None:
        self._engine = engine
        self._key = key
        self.limits = limits
        self.ack_attempts_total: Counter[str] = Counter()

    def pseudonym(self, value: str) -> str:
        """A stable, keyed stand-in for an address or a code: safe in a table or a log line."""
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def tag(self, client: str) -> str:
        """A short keyed tag for a client in a log line: repeat offenders show, addresses do not."""
        return self.pseudonym(f"client:{client}")[:12]

    async def reserve(self, client: str, code: str, now: datetime) -> Reserved | Limited:
        limits = self.limits
        start = window_start(now, limits.window)
        wanted: tuple[tuple[Scope, str, int], ...] = (
            ("client", self.pseudonym(f"client:{client}"), limits.per_client),
            ("code", self.pseudonym(f"code:{code}"), limits.per_code),
            ("global", "all", limits.global_failures),
        )
        try:
            async with self._engine.begin() as connection:
                for scope, key, limit in wanted:
                    created = await connection.execute(
                        insert_ignoring_duplicates(connection, ack_attempt_windows).values(
                            scope=scope, key=key, window_start=start, used=0
                        )
                    )
                    if scope == "global" and created.rowcount:  # a new window: drop old ones
                        await connection.execute(
                            ack_attempt_windows.delete().where(
                                ack_attempt_windows.c.window_start < start - limits.window
                            )
                        )
                    # Compare-and-set: concurrent attempts cannot both take the last slot.
                    taken = await connection.execute(
                        ack_attempt_windows.update()
                        .where(
                            ack_attempt_windows.c.scope == scope,
                            ack_attempt_windows.c.key == key,
                            ack_attempt_windows.c.window_start == start,
                            ack_attempt_windows.c.used < limit,
                        )
                        .values(used=ack_attempt_windows.c.used + 1)
                    )
                    if taken.rowcount != 1:
                        raise _Full(scope)  # rolls back the slots taken so far
        except _Full as full:
            self.ack_attempts_total[f"limited:{full.scope}"] += 1
            return Limited(full.scope, retry_after_seconds(now, limits.window))
        return Reserved(start, tuple((scope, key) for scope, key, _ in wanted))

    async def refund(self, reserved: Reserved) -> None:
        """A success gives its slots back: only failures count against the limits."""
        async with self._engine.begin() as connection:
            for scope, key in reserved.keys:
                await connection.execute(
                    ack_attempt_windows.update()
                    .where(
                        ack_attempt_windows.c.scope == scope,
                        ack_attempt_windows.c.key == key,
                        ack_attempt_windows.c.window_start == reserved.window_start,
                        ack_attempt_windows.c.used > 0,
                    )
                    .values(used=ack_attempt_windows.c.used - 1)
                )


class _Full(Exception):
    def __init__(self, scope: Scope) -> None:
        super().__init__(scope)
        self.scope: Scope = scope
