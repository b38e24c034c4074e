"""The saturation search: the highest offered rate a side sustains. A step is sustainable when
every acknowledged item completed within the drain time, p99 latency stayed within the limit and
completions kept up with the offered rate (a growing backlog stretches the completions and fails
this). The search needs no model of the system: it ramps until a step fails, then bisects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.runs import Run
from bench.scenarios import SaturationPlan
from bench.stats import percentile

# rate, seconds, label → the run, or None when the previous backlog would not drain first.
StepRunner = Callable[[float, float, str], Awaitable[Run | None]]


@dataclass
class Step:
    run: Run
    sustainable: bool
    reasons: list[str]

    def to_json(self) -> dict[str, Any]:
        return {**self.run.to_json(), "sustainable": self.sustainable, "reasons": self.reasons}


@dataclass
class Saturation:
    side: str
    steps: list[Step] = field(default_factory=list)
    sustainable_rate: float | None = None  # None: even the first rate failed
    capped: bool = False  # the highest rate tried passed: the real limit is higher
    stopped: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "sustainable_rate_per_s": self.sustainable_rate,
            "capped_at_max_rate": self.capped,
            "stopped": self.stopped,
            "steps": [step.to_json() for step in self.steps],
        }


def judge(run: Run, plan: SaturationPlan) -> tuple[bool, list[str]]:
    reasons = []
    if run.refused:
        reasons.append(f"{len(run.refused)} refused")
    if run.incomplete:
        reasons.append(f"{len(run.incomplete)} not completed within {plan.drain_seconds:.0f} s")
    values = run.values(run.primary)
    if values and (p99 := percentile(values, 99)) > plan.p99_limit:
        reasons.append(f"p99 {p99 * 1000:.0f} ms > {plan.p99_limit * 1000:.0f} ms")
    achieved = run.throughput()
    if achieved is None or achieved < plan.rate_share * run.rate:
        shown = "n/a" if achieved is None else f"{achieved:.1f}/s"
        reasons.append(f"completion rate {shown} < {plan.rate_share:.0%} of {run.rate:g}/s")
    return not reasons, reasons


async def search(side: str, step: StepRunner, plan: SaturationPlan) -> Saturation:
    result = Saturation(side)
    good: float | None = None
    bad: float | None = None
    rate = plan.start
    while rate <= plan.max_rate:
        passed = await _try(result, step, rate, plan)
        if passed is None:
            return result
        if not passed:
            bad = rate
            break
        good = rate
        rate *= 2
    if bad is None:
        result.capped = True
        result.stopped = f"reached the highest rate tried ({plan.max_rate:g}/s)"
    else:
        result.stopped = f"{bad:g}/s not sustainable"
        low = good if good is not None else 0.0
        for _ in range(plan.refine):
            middle = float(round((low + bad) / 2))
            if middle <= low or middle >= bad:
                break
            passed = await _try(result, step, middle, plan)
            if passed is None:
                break
            if passed:
                low = good = middle
            else:
                bad = middle
    result.sustainable_rate = good
    return result


async def _try(
    result: Saturation, step: StepRunner, rate: float, plan: SaturationPlan
) -> bool | None:
    print(f"  [{result.side} saturation] {rate:g}/s for {plan.step_seconds:g} s …", flush=True)
    run = await step(rate, plan.step_seconds, f"sat-{rate:g}")
    if run is None:
        result.stopped = f"backlog from an earlier step did not drain before {rate:g}/s"
        return None
    sustainable, reasons = judge(run, plan)
    result.steps.append(Step(run, sustainable, reasons))
    print(
        f"  [{result.side} saturation] {rate:g}/s: "
        + ("sustained" if sustainable else "NOT sustained: " + "; ".join(reasons)),
        flush=True,
    )
    return sustainable
