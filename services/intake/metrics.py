"""Intake's figure: contacts received, by outcome (opened, updated, replayed, refused).

`refused` counts contacts turned away: a 4xx answer to POST /v1/contacts, or a record on the
ingress topic dead-lettered (bad signature, bad contract, replayed request id)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter

from shared.metrics import ServiceMetrics, bounded
from shared.topics import POLICE_CONTACTS

# services/intake/handlers.py Outcome, plus refused (a unit test keeps them in step).
OUTCOMES = ("opened", "updated", "replayed", "refused")


@dataclass(frozen=True)
class IntakeMetrics:
    contacts_received: Counter

    @classmethod
    def register(cls, metrics: ServiceMetrics) -> IntakeMetrics:
        own = cls(
            metrics.counter(
                "safeguarding_contacts_received_total",
                "Police contacts received, by outcome",
                ("outcome",),
            )
        )
        for outcome in OUTCOMES:  # every series from the start: a rate() over it is 0, not absent
            own.contacts_received.labels(outcome=outcome)

        def refused_on_ingress(topic: str, _reason: str) -> None:
            if topic == POLICE_CONTACTS.name:
                own.refused()

        metrics.on_dead_letter(refused_on_ingress)
        return own

    @classmethod
    def unregistered(cls) -> IntakeMetrics:
        """For deps built without a service (tests of one use case)."""
        return cls.register(ServiceMetrics("intake"))

    def received(self, outcome: str) -> None:
        self.contacts_received.labels(outcome=bounded(outcome, OUTCOMES)).inc()

    def refused(self) -> None:
        self.contacts_received.labels(outcome="refused").inc()
