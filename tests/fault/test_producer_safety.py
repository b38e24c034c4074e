"""A service refuses to start, rather than run unsafely, when a topic it uses is missing or its
Kafka producer is not acks=all with idempotence. Checked for each of the four services, on SQLite
and PostgreSQL, against the real broker."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from faststream import TestApp

from shared import kafka
from shared.topics import ALL_TOPICS
from tests.support import system
from tests.support.live import SERVICES, ServiceProcess, service_env

pytestmark = pytest.mark.fault


@pytest.mark.parametrize("service", SERVICES)
async def test_refuses_to_start_when_a_topic_is_missing(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    service_databases: dict[str, str],
    service: str,
) -> None:
    # Every topic of the prefix exists but one: the dead-letter topic every service writes to.
    missing = next(spec for spec in ALL_TOPICS if spec.name.endswith("dead-letters.v1"))
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([missing.full_name(topic_prefix)])
    finally:
        await admin.close()
    for config in ("rota.yaml", "alerting.yaml"):
        (tmp_path / config).write_text((system.ROOT / "deploy" / "config" / config).read_text())
    process = ServiceProcess(
        service,
        service_env(
            service, kafka_bootstrap, topic_prefix, service_databases[service], tmp_path, {}
        ),
        tmp_path / f"{service}.log",
    )
    process.spawn()
    assert process.process is not None
    started = time.monotonic()
    try:
        code = process.process.wait(timeout=60)
    finally:
        if process.running():
            process.kill()
    log = process.log.read_text(errors="replace")
    print(f"\n{service}: exited {code} after {time.monotonic() - started:.1f} s without topics")
    assert code != 0
    assert "topics missing" in log
    assert missing.full_name(topic_prefix) in log


UNSAFE = [
    pytest.param({"acks": 1, "enable_idempotence": False}, id="acks=1"),
    pytest.param({"acks": "all", "enable_idempotence": False}, id="no-idempotence"),
    pytest.param({"acks": 0, "enable_idempotence": False}, id="acks=0"),
]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("producer_settings", UNSAFE)
async def test_refuses_to_start_with_an_unsafe_producer(
    kafka_bootstrap: str,
    topic_prefix: str,
    service_databases: dict[str, str],
    service: str,
    producer_settings: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if a library upgrade, or an edit of shared/kafka.py, changed what the producer gets.
    monkeypatch.setattr(kafka, "PRODUCER_SAFETY", producer_settings)
    app = system.BUILDERS[service](kafka_bootstrap, topic_prefix, service_databases[service])
    with pytest.raises(kafka.UnsafeProducerError, match="must use acks=all with idempotence"):
        async with TestApp(app):
            pass


@pytest.mark.parametrize("service", SERVICES)
async def test_starts_with_the_safe_producer(
    kafka_bootstrap: str, topic_prefix: str, service_databases: dict[str, str], service: str
) -> None:
    """The control: the same start with the real settings succeeds, so the refusals above are
    caused by the producer settings alone."""
    app = system.BUILDERS[service](kafka_bootstrap, topic_prefix, service_databases[service])
    async with TestApp(app):
        pass
