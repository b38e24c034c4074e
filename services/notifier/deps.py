"""What the notifier's use cases are given by the composition root (services/notifier/main.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.ack_limits import AckLimiter
from services.notifier.metrics import NotifierMetrics
from services.notifier.policy import AlertingPolicy
from services.notifier.ports import Sender
from services.notifier.rota_book import RotaBook
from shared.clock import Clock
from shared.rota import Rota
from shared.tracing import Tracing

PRODUCER = "notifier"


@dataclass(frozen=True)
class NotifierDeps:
    engine: AsyncEngine
    rota_book: RotaBook  # the rota file with the leave and cover stored from the console
    policy: AlertingPolicy
    sender: Sender
    clock: Clock
    alerts_topic: str
    public_url: str
    ack_secret: bytes
    lease: timedelta
    wake_scheduler: Callable[[], None]  # the whole clock: bursts, reminders, steps, sends
    wake_outbox: Callable[[], None]  # within the outbox linger (settings.outbox_linger_seconds)
    wake_dispatch: Callable[[], None]  # the sends alone: a raised alert's first messages
    wake_scheduler_in: Callable[[float], None]  # the clock runs within this many seconds
    ack_code_ttl: timedelta  # how long a code in a message can acknowledge its alert
    ack_limiter: AckLimiter
    metrics: NotifierMetrics = field(default_factory=NotifierMetrics.unregistered)
    tracing: Tracing = field(default_factory=lambda: Tracing("notifier", None))  # off by default

    def timer_set(self, due: datetime) -> None:
        """A timer committed outside the clock's own pass (a later escalation step, a burst batch
        closing): the clock runs when it falls due, however slow its poll."""
        self.wake_scheduler_in((due - self.clock.now()).total_seconds())

    @property
    def rota(self) -> Rota:
        """The rota every paging decision uses: the file's, with the stored changes merged."""
        return self.rota_book.current
