"""Create every topic of shared/topics.py on the cluster (idempotent).

python -m deploy.topics            # uses KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092
"""

from __future__ import annotations

import asyncio
import os

from shared.kafka import ensure_topics


def main() -> None:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    created = asyncio.run(ensure_topics(bootstrap, prefix))
    print(f"topics created: {', '.join(created) or 'none (all present)'}")


if __name__ == "__main__":
    main()
