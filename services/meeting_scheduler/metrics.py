"""The meeting scheduler's figure: referral items added to an agenda, by meeting series (the
series ids of the calendar file, a bounded set)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from prometheus_client import Counter

from shared.metrics import ServiceMetrics, bounded


@dataclass(frozen=True)
class SchedulerMetrics:
    series: frozenset[str]
    agenda_items: Counter

    @classmethod
    def register(cls, metrics: ServiceMetrics, series: Collection[str]) -> SchedulerMetrics:
        own = cls(
            frozenset(series),
            metrics.counter(
                "safeguarding_agenda_items_total",
                "Referral items added to a meeting's agenda, by meeting series",
                ("series",),
            ),
        )
        for name in own.series:  # every series from the start: a rate() over it is 0, not absent
            own.agenda_items.labels(series=name)
        return own

    @classmethod
    def unregistered(cls) -> SchedulerMetrics:
        """For deps built without a service (tests of one use case)."""
        return cls.register(ServiceMetrics("meeting_scheduler"), ())

    def added(self, series: str) -> None:
        self.agenda_items.labels(series=bounded(series, self.series)).inc()
