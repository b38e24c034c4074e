"""Every Kafka topic of the system, in one place. Topics are created from this list, never by auto-creation."""

from __future__ import annotations

from dataclasses import dataclass

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    description: str

    def full_name(self, prefix: str = "") -> str:
        """Tests give each run its own prefix so they never share a topic's history."""
        return f"{prefix}{self.name}"


POLICE_CONTACTS = TopicSpec(
    "police.contacts.v1", 3, 30 * DAY_MS,
    "Ingress: police contact v1 records from the police intake system (keyed by force/reference).",
)  # fmt: skip
REFERRALS = TopicSpec(
    "safeguarding.referrals.v1", 3, 30 * DAY_MS,
    "ReferralOpenedV1 / ReferralUpdatedV1 from intake, keyed by case reference. No direct identifiers.",
)  # fmt: skip
ALERTS = TopicSpec(
    "safeguarding.alerts.v1", 3, 30 * DAY_MS,
    "AlertDeliveredV1 from notifier, keyed by case reference.",
)  # fmt: skip
TASKS = TopicSpec(
    "safeguarding.tasks.v1", 3, 30 * DAY_MS,
    "TaskOpenedV1 from casework, keyed by case reference.",
)  # fmt: skip
AGENDA = TopicSpec(
    "safeguarding.agenda.v1", 3, 30 * DAY_MS,
    "AgendaItemAddedV1 from meeting_scheduler, keyed by case reference.",
)  # fmt: skip
DEAD_LETTERS = TopicSpec(
    "safeguarding.dead-letters.v1", 1, 90 * DAY_MS,
    "DeadLetterV1: records a consumer gave up on, with the reason and where the original lies.",
)  # fmt: skip

ALL_TOPICS: tuple[TopicSpec, ...] = (
    POLICE_CONTACTS,
    REFERRALS,
    ALERTS,
    TASKS,
    AGENDA,
    DEAD_LETTERS,
)
