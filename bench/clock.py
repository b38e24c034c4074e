"""One reading of the wall clock and the monotonic clock taken together, to move instants between
them: the generators plan sends on the monotonic clock, Kafka record timestamps are wall-clock
milliseconds. Over a benchmark's minutes the two drift apart by far less than a millisecond."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClockPair:
    wall: float = field(default_factory=time.time)
    monotonic: float = field(default_factory=time.monotonic)

    def to_wall(self, monotonic: float) -> float:
        return self.wall + (monotonic - self.monotonic)

    def to_monotonic(self, wall: float) -> float:
        return self.monotonic + (wall - self.wall)
