"""Create every topic of shared/topics.py on the cluster (idempotent).

python -m deploy.topics            # uses KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092
"""

from __future__ import annotations

import asyncio

from shared.kafka import ensure_topics, security_from
from shared.settings import ServiceSettings


def main() -> None:
    settings = ServiceSettings()
    created = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            settings.topic_prefix,
            security=security_from(settings),
        )
    )
    print(f"topics created: {', '.join(created) or 'none (all present)'}")


if __name__ == "__main__":
    main()
