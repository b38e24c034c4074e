"""The scenarios and their sizes, full and --quick. Each system scenario is run by the baseline
pipeline too, at the same rates, so every system number has a baseline number beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.notifier.policy import load_policy
from tests.support.system import ROOT

SCENARIOS = ("steady", "raid", "saturation")
RAID_OPERATION = "Op Bench"  # one police operation: the notifier groups its later referrals
# With `--timing shipped`, every tenth raid contact is at immediate risk: paged at once, never
# grouped (services/notifier/raising.py), so the raid goal's "paged within 1 s" is measured.
RAID_IMMEDIATE_EVERY = 10


def shipped_batch_seconds() -> float:
    """How long the shipped alerting.yaml holds a raid's follow-up batch open."""
    policy = load_policy(ROOT / "deploy" / "config" / "alerting.yaml")
    return policy.bursts.batch_minutes * 60


def describe_raid_timing(timing: dict[str, Any]) -> str:
    """One line of SystemRig.raid_timing's figures."""
    paged, grouped = timing["immediate_contact_to_page_ms"], timing["grouped_close_to_sms_ms"]
    return (
        f"{timing['immediate_paged']}/{timing['immediate_contacts']} immediate-risk contacts "
        f"paged, worst {max(paged, default=0):.0f} ms after the contact; "
        f"{timing['grouped_follow_ups']} grouped follow-up(s), worst "
        f"{max(grouped, default=0):.0f} ms after the batch closed"
    )


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
