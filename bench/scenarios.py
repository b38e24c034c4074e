"""The scenarios and their sizes, full and --quick. Each system scenario is run by the baseline
pipeline too, at the same rates, so every system number has a baseline number beside it."""

from __future__ import annotations

from dataclasses import dataclass

SCENARIOS = ("steady", "raid", "saturation")
RAID_OPERATION = "Op Bench"  # one police operation: the notifier groups its later referrals


@dataclass(frozen=True)
class Load:
    """A constant-rate open-loop burst of `count` items at `rate` per second."""

    rate: float
    count: int
    drain_seconds: float  # how long after the last send to wait for the last effect

    @property
    def seconds(self) -> float:
        return self.count / self.rate


@dataclass(frozen=True)
class SaturationPlan:
    """Rates start, start·2, start·4 … up to `max_rate`, each for `step_seconds`, until a step is
    not sustainable; then `refine` bisection steps between the last good and the first bad rate."""

    start: float
    max_rate: float
    step_seconds: float
    drain_seconds: float
    refine: int
    p99_limit: float = 1.0  # seconds
    rate_share: float = 0.9  # completions per second must reach this share of the offered rate


@dataclass(frozen=True)
class Plan:
    steady: Load
    raid: Load
    baseline_saturation: SaturationPlan
    system_saturation: SaturationPlan


FULL = Plan(
    steady=Load(rate=10.0, count=600, drain_seconds=60.0),
    raid=Load(rate=6.0, count=60, drain_seconds=60.0),
    baseline_saturation=SaturationPlan(
        start=5.0, max_rate=5120.0, step_seconds=20.0, drain_seconds=20.0, refine=2
    ),
    system_saturation=SaturationPlan(
        start=5.0, max_rate=640.0, step_seconds=20.0, drain_seconds=20.0, refine=2
    ),
)

# A smoke run: every code path, a few minutes, numbers too short to quote.
QUICK = Plan(
    steady=Load(rate=10.0, count=100, drain_seconds=30.0),
    raid=Load(rate=6.0, count=60, drain_seconds=30.0),
    baseline_saturation=SaturationPlan(
        start=5.0, max_rate=80.0, step_seconds=5.0, drain_seconds=10.0, refine=0
    ),
    system_saturation=SaturationPlan(
        start=5.0, max_rate=20.0, step_seconds=5.0, drain_seconds=10.0, refine=0
    ),
)
