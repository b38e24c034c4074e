"""Every Kafka topic of the system, in one place. Topics are created from this list, never by auto-creation."""

from __future__ import annotations

from dataclasses import dataclass, replace

HOUR_MS = 60 * 60 * 1000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    description: str
    # LogAppendTime: the broker, not the writer, stamps each record. The ingress topic needs it so
    # a signed contact's freshness is judged against when it reached Kafka (services/intake/auth.py).
    broker_timestamps: bool = False

    def full_name(self, prefix: str = "") -> str:
        """Tests give each run its own prefix so they never share a topic's history."""
        return f"{prefix}{self.name}"

    def configs(self, replication_factor: int) -> dict[str, str]:
        """The topic's configuration on a cluster with that replication factor. With acks=all, a
        write is acknowledged once min.insync.replicas copies hold it: 2 of 3 survives the loss of
        a broker without losing an acknowledged record (a single broker can only ask for 1)."""
        configs = {
            "retention.ms": str(self.retention_ms),
            "min.insync.replicas": "2" if replication_factor >= 3 else "1",
        }
        if self.broker_timestamps:
            configs["message.timestamp.type"] = "LogAppendTime"
        return configs


# The ingress topic holds police contacts in full (personal data) and the intake database, not
# Kafka, is their system of record: keep them only as long as a dead-lettered record may need to be
# found again at its offset. Operators set it with KAFKA_INGRESS_RETENTION_HOURS (deploy/topics.py).
INGRESS_RETENTION_HOURS = 24
POLICE_CONTACTS = TopicSpec(
    "police.contacts.v1", 3, INGRESS_RETENTION_HOURS * HOUR_MS,
    "Ingress: police contact v1 records from the police intake system (keyed by force/reference).",
    broker_timestamps=True,
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
    "TasksOpenedV1 from casework, keyed by case reference.",
)  # fmt: skip
AGENDA = TopicSpec(
    "safeguarding.agenda.v1", 3, 30 * DAY_MS,
    "AgendaItemAddedV1 from meeting_scheduler, keyed by case reference; AgendaPublishedV1 by "
    "meeting (series:date); TrainingPaceWarningV1 by series.",
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


def with_ingress_retention(
    hours: float, specs: tuple[TopicSpec, ...] = ALL_TOPICS
) -> tuple[TopicSpec, ...]:
    """The topics, with the ingress topic kept for `hours` instead of the default."""
    if hours <= 0:
        raise ValueError("the ingress retention must be positive")
    retention_ms = round(hours * HOUR_MS)
    return tuple(
        replace(spec, retention_ms=retention_ms) if spec.name == POLICE_CONTACTS.name else spec
        for spec in specs
    )
