"""Create every topic of shared/topics.py on the cluster (idempotent).

python -m deploy.topics            # uses KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092

KAFKA_INGRESS_RETENTION_HOURS sets how long police.contacts.v1 keeps records (default 24).
"""

from __future__ import annotations

import asyncio

from pydantic import AliasChoices, Field

from shared.kafka import ensure_topics, security_from
from shared.settings import ServiceSettings
from shared.topics import INGRESS_RETENTION_HOURS, with_ingress_retention


class TopicSettings(ServiceSettings):
    # Police contacts in full: kept no longer than needed to find a dead-lettered record again.
    ingress_retention_hours: float = Field(
        default=INGRESS_RETENTION_HOURS,
        gt=0,
        le=30 * 24,
        validation_alias=AliasChoices("KAFKA_INGRESS_RETENTION_HOURS"),
    )


def main() -> None:
    settings = TopicSettings()
    created = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            settings.topic_prefix,
            specs=with_ingress_retention(settings.ingress_retention_hours),
            security=security_from(settings),
        )
    )
    print(f"topics created: {', '.join(created) or 'none (all present)'}")


if __name__ == "__main__":
    main()
