"""What one load run measured, in the same shape for the baseline pipeline and the system, so the
statistics, the saturation search and the report treat both alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.stats import completion_rate, summarize

# The metric each side is judged by: the baseline's second hop, the system's SMS to the advisor.
BASELINE_METRIC = "two_hop"
ALERT_METRIC = "alert"
SYSTEM_METRICS = (ALERT_METRIC, "tasks", "agenda")


@dataclass
class Run:
    """One open-loop run: `count` items planned `1/rate` apart from `started` (monotonic).

    `latencies[metric][item]` is seconds from the item's planned send to that effect; `done[item]`
    is when its last effect was seen (monotonic); `refused` were never acknowledged by the broker or
    intake; `incomplete` were acknowledged but lacked an effect when the wait ended."""

    side: str  # "baseline" | "system"
    label: str
    rate: float
    count: int
    started: float
    planned: dict[str, float] = field(default_factory=dict)
    latencies: dict[str, dict[str, float]] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # item → "individual" | "grouped" alert
    via: dict[str, str] = field(default_factory=dict)  # item → "http" | "kafka" (system only)
    extra: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping, as JSON

    @property
    def primary(self) -> str:
        return BASELINE_METRIC if self.side == "baseline" else ALERT_METRIC

    def values(self, metric: str, kind: str | None = None) -> list[float]:
        found = self.latencies.get(metric, {})
        return [v for item, v in found.items() if kind is None or self.kinds.get(item) == kind]

    def throughput(self) -> float | None:
        return completion_rate(list(self.done.values()))

    def series(self, metric: str) -> list[tuple[float, float]]:
        """(seconds after the run's start the item was planned, latency) for plotting."""
        found = self.latencies.get(metric, {})
        return sorted((self.planned[item] - self.started, v) for item, v in found.items())

    def to_json(self) -> dict[str, Any]:
        metrics = BASELINE_METRIC if self.side == "baseline" else SYSTEM_METRICS
        names = (metrics,) if isinstance(metrics, str) else metrics
        result: dict[str, Any] = {
            "label": self.label,
            "offered_rate_per_s": self.rate,
            "planned": self.count,
            "refused": len(self.refused),
            "completed": len(self.done),
            "incomplete": len(self.incomplete),
            "throughput_per_s": _round(self.throughput()),
            "latency": {},
        }
        for name in names:
            summary = summarize(self.values(name))
            result["latency"][name] = summary.as_ms() if summary else None
        if self.side == "system":
            for kind in ("individual", "grouped"):
                summary = summarize(self.values(ALERT_METRIC, kind))
                if summary is not None:
                    result["latency"][f"alert_{kind}"] = summary.as_ms()
            for via in ("http", "kafka"):
                values = [
                    v for item, v in self.latencies.get(ALERT_METRIC, {}).items()
                    if self.via.get(item) == via
                ]  # fmt: skip
                summary = summarize(values)
                if summary is not None:
                    result["latency"][f"alert_via_{via}"] = summary.as_ms()
        result.update(self.extra)
        if self.incomplete:
            result["incomplete_items"] = self.incomplete[:20]
        return result


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
