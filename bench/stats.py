"""Latency and throughput statistics.

Percentiles use linear interpolation between closest ranks (what numpy calls "linear", Hyndman and
Fan's type 7): for n sorted values x[0] … x[n-1] and p in [0, 100], the rank is h = (n-1)·p/100 and
the percentile is x[⌊h⌋] + (h - ⌊h⌋)·(x[⌊h⌋+1] - x[⌊h⌋]). So p0 is the minimum, p100 the maximum,
p50 of an even count is the mean of the middle two, and a single value is every percentile of
itself. Interpolation rather than nearest rank keeps p99 of a few hundred samples from jumping to
the maximum."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 ≤ p ≤ 100) of `values`, by linear interpolation (see above)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile {p} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True)
class LatencySummary:
    """Seconds; `count` samples."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def as_ms(self) -> dict[str, Any]:
        def ms(seconds: float) -> float:
            return round(seconds * 1000.0, 1)

        return {
            "count": self.count,
            "mean_ms": ms(self.mean),
            "p50_ms": ms(self.p50),
            "p95_ms": ms(self.p95),
            "p99_ms": ms(self.p99),
            "max_ms": ms(self.max),
        }


def summarize(latencies: Iterable[float]) -> LatencySummary | None:
    """None for no samples, so a report says "no data" rather than a made-up zero."""
    values = list(latencies)
    if not values:
        return None
    return LatencySummary(
        count=len(values),
        mean=sum(values) / len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=max(values),
    )


def completion_rate(done_at: Collection[float]) -> float | None:
    """Completions per second between the first and the last completion: (n-1) intervals over the
    span. Unlike n / (last - first planned) it does not charge a constant latency as lost
    throughput, but a backlog that grows stretches the span and lowers the rate."""
    if len(done_at) < 2:
        return None
    span = max(done_at) - min(done_at)
    return (len(done_at) - 1) / span if span > 0 else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator
