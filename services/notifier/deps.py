"""What the notifier's use cases are given by the composition root (services/notifier/main.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

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
    wake_scheduler: Callable[[], None]
    wake_outbox: Callable[[], None]
    ack_code_ttl: timedelta  # how long a code in a message can acknowledge its alert
    ack_limiter: AckLimiter
    metrics: NotifierMetrics = field(default_factory=NotifierMetrics.unregistered)
    tracing: Tracing = field(default_factory=lambda: Tracing("notifier", None))  # off by default

    @property
    def rota(self) -> Rota:
        """The rota every paging decision uses: the file's, with the stored changes merged."""
        return self.rota_book.current
