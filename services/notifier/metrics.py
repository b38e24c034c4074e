"""The notifier's figures: alerts raised and acknowledged, escalation, every send, and the two
gauges an operator is paged on (a notification waiting too long, an alert nobody took).

Each counter is moved once its transaction has committed (a rolled-back step or send moved
nothing), by the use case that did the work; every label value comes from an enum or the policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters.tables import alerts, escalation_steps, notifications
from shared.events import Urgency
from shared.metrics import Sampler, ServiceMetrics, bounded
from shared.rota import ChannelKind

VIAS = ("link", "code", "console")  # AlertAcknowledgedV1.via
DELIVERY_OUTCOMES = ("delivered", "failed")
# Alerts that escalate through the policy's steps; agenda, reminder and rota-gap messages are one
# step for information and nobody acknowledges them.
ESCALATING_KINDS = ("referral", "child_referral", "grouped")
MAX_STEPS = 64  # label values "0".."63": far beyond any policy (steps + 20 repeats at most)
URGENCIES = tuple(urgency.value for urgency in Urgency)
CHANNELS = tuple(kind.value for kind in ChannelKind)
STEPS = tuple(str(number) for number in range(MAX_STEPS))
# Minutes matter to a person waiting for help: 15 s up to the two hours of a full escalation.
ACK_BUCKETS = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 5400.0, 7200.0)
# One provider call: tens of milliseconds for SMS gateways, more for SMTP, up to a timeout.
SEND_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class NotifierMetrics:
    alerts_raised: Counter
    alerts_acknowledged: Counter
    time_to_acknowledge: Histogram
    escalation_steps: Counter
    notifications: Counter
    delivery_seconds: Histogram
    retries: Counter
    fallbacks: Counter
    oldest_undelivered_age: Gauge
    unacknowledged_past_last_step: Gauge

    @classmethod
    def register(cls, metrics: ServiceMetrics) -> NotifierMetrics:
        own = cls(
            alerts_raised=metrics.counter(
                "safeguarding_alerts_raised_total", "Alerts raised, by urgency", ("urgency",)
            ),
            alerts_acknowledged=metrics.counter(
                "safeguarding_alerts_acknowledged_total",
                "Alerts acknowledged (first acknowledgement only), by how",
                ("via",),
            ),
            time_to_acknowledge=metrics.histogram(
                "safeguarding_alert_time_to_acknowledge_seconds",
                "From an alert being raised to its acknowledgement, by urgency",
                ACK_BUCKETS,
                ("urgency",),
            ),
            escalation_steps=metrics.counter(
                "safeguarding_escalation_steps_total",
                "Escalation steps fired (0 is the first page), by step number",
                ("step",),
            ),
            notifications=metrics.counter(
                "safeguarding_notifications_total",
                "Send attempts, by channel kind and outcome",
                ("channel", "outcome"),
            ),
            delivery_seconds=metrics.histogram(
                "safeguarding_notification_delivery_seconds",
                "Duration of one send to the provider, by channel kind",
                SEND_BUCKETS,
                ("channel",),
            ),
            retries=metrics.counter(
                "safeguarding_notification_retries_total",
                "Failed sends to be tried again on the same channel, by channel kind",
                ("channel",),
            ),
            fallbacks=metrics.counter(
                "safeguarding_notification_fallbacks_total",
                "Channels given up for the person's next one, by the channel given up",
                ("channel",),
            ),
            oldest_undelivered_age=metrics.gauge(
                "safeguarding_oldest_undelivered_notification_age_seconds",
                "Age of the oldest notification still waiting to be sent (0 when none is)",
            ),
            unacknowledged_past_last_step=metrics.gauge(
                "safeguarding_alerts_unacknowledged_past_last_step",
                "Open alerts whose last escalation step has fired, still not acknowledged",
            ),
        )
        own._start_at_zero()
        return own

    @classmethod
    def unregistered(cls) -> NotifierMetrics:
        """For deps built without a service (tests of one use case)."""
        return cls.register(ServiceMetrics("notifier"))

    def _start_at_zero(self) -> None:
        # Every bounded series exists from the start, so a rate() over it is 0, not absent.
        for urgency in URGENCIES:
            self.alerts_raised.labels(urgency=urgency)
        for via in VIAS:
            self.alerts_acknowledged.labels(via=via)
        for channel in CHANNELS:
            for outcome in DELIVERY_OUTCOMES:
                self.notifications.labels(channel=channel, outcome=outcome)
            self.retries.labels(channel=channel)
            self.fallbacks.labels(channel=channel)

    def raised(self, urgency: str) -> None:
        self.alerts_raised.labels(urgency=bounded(urgency, URGENCIES)).inc()

    def acknowledged(self, via: str, urgency: str, raised_at: datetime, at: datetime) -> None:
        self.alerts_acknowledged.labels(via=bounded(via, VIAS)).inc()
        self.time_to_acknowledge.labels(urgency=bounded(urgency, URGENCIES)).observe(
            max(0.0, (at - raised_at).total_seconds())
        )

    def step_fired(self, step: int) -> None:
        self.escalation_steps.labels(step=bounded(str(step), STEPS)).inc()

    def attempted(self, channel: str, delivered: bool, seconds: float) -> None:
        kind = bounded(channel, CHANNELS)
        outcome = "delivered" if delivered else "failed"
        self.notifications.labels(channel=kind, outcome=outcome).inc()
        self.delivery_seconds.labels(channel=kind).observe(seconds)

    def retried(self, channel: str) -> None:
        self.retries.labels(channel=bounded(channel, CHANNELS)).inc()

    def fell_back(self, channel: str) -> None:
        self.fallbacks.labels(channel=bounded(channel, CHANNELS)).inc()

    def sampler(self, engine: AsyncEngine, now: Callable[[], datetime]) -> Sampler:
        """The two gauges, read from the notifier's own tables (shared/metrics.py runs it)."""

        async def sample() -> None:
            settled = sa.exists().where(
                escalation_steps.c.alert_id == alerts.c.alert_id,
                escalation_steps.c.status == "pending",
            )
            async with engine.connect() as connection:
                oldest = await connection.scalar(
                    sa.select(sa.func.min(notifications.c.created_at)).where(
                        notifications.c.status == "pending"
                    )
                )
                past_last = await connection.scalar(
                    sa.select(sa.func.count()).where(
                        alerts.c.status == "open",
                        alerts.c.kind.in_(ESCALATING_KINDS),
                        ~settled,
                    )
                )
            age = (now() - oldest).total_seconds() if oldest is not None else 0.0
            self.oldest_undelivered_age.set(max(0.0, age))
            self.unacknowledged_past_last_step.set(int(past_last or 0))

        return sample
