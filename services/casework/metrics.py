"""Casework's figures: tasks opened by kind, overdue reminders sent, and open tasks past their
deadline now (a gauge read by the sampler loop, shared/metrics.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework.adapters.tables import tasks
from services.casework.domain import FIRST_CONTACT, DeadlinePolicy
from services.casework.lifecycle import ACTIVE
from shared.metrics import Sampler, ServiceMetrics, bounded


def task_kinds(policy: DeadlinePolicy) -> frozenset[str]:
    """Every kind plan_tasks can open: the first contact and each kind with a deadline."""
    return frozenset({FIRST_CONTACT, *policy.deadlines})


@dataclass(frozen=True)
class CaseworkMetrics:
    kinds: frozenset[str]
    tasks_opened: Counter
    overdue_chases: Counter
    overdue_now: Gauge

    @classmethod
    def register(cls, metrics: ServiceMetrics, kinds: Collection[str]) -> CaseworkMetrics:
        own = cls(
            frozenset(kinds),
            metrics.counter(
                "safeguarding_tasks_opened_total", "Tasks opened, by task kind", ("kind",)
            ),
            metrics.counter(
                "safeguarding_tasks_overdue_total",
                "Overdue reminders published (one per task and threshold crossed)",
            ),
            metrics.gauge(
                "safeguarding_tasks_overdue_open",
                "Open or in-progress tasks past their deadline now",
            ),
        )
        for kind in own.kinds:  # every series from the start: a rate() over it is 0, not absent
            own.tasks_opened.labels(kind=kind)
        return own

    @classmethod
    def unregistered(cls) -> CaseworkMetrics:
        """For deps built without a service (tests of one use case)."""
        return cls.register(ServiceMetrics("casework"), task_kinds(DeadlinePolicy()))

    def opened(self, kinds: Collection[str]) -> None:
        for kind in kinds:
            self.tasks_opened.labels(kind=bounded(kind, self.kinds)).inc()

    def chased(self, reminders: int) -> None:
        self.overdue_chases.inc(reminders)

    def sampler(self, engine: AsyncEngine, now: Callable[[], datetime]) -> Sampler:
        async def sample() -> None:
            async with engine.connect() as connection:
                overdue = await connection.scalar(
                    sa.select(sa.func.count()).where(
                        tasks.c.status.in_([status.value for status in ACTIVE]),
                        tasks.c.due_at <= now(),
                    )
                )
            self.overdue_now.set(int(overdue or 0))

        return sample
