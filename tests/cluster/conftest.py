"""The clustered fault suite's rig: one local three-node Kafka cluster (deploy/kafka_cluster.py)
for the module, started only when a `cluster` test runs, and the fault suite's sinks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from deploy.kafka_broker import KAFKA_VERSION
from deploy.kafka_cluster import LocalKafkaCluster
from tests.conftest import USED
from tests.fault.conftest import Sinks
from tests.support.http_gateway import RunningGateway
from tests.support.smtp import SmtpSink


# Module, not session: three idle JVMs cost about a fifth of a core, which the rest of a full run
# on two cores should not pay for (all clustered scenarios are in one file).
@pytest.fixture(scope="module")
async def kafka_cluster() -> AsyncIterator[LocalKafkaCluster]:
    cluster = LocalKafkaCluster()
    seconds = await cluster.start()
    USED["kafka cluster"] = (
        f"Apache Kafka {KAFKA_VERSION}, {cluster.size} KRaft nodes (broker+controller) at "
        f"{cluster.bootstrap_servers}, ready in {seconds:.1f} s"
    )
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def sinks() -> AsyncIterator[Sinks]:
    async with RunningGateway() as gateway:
        with SmtpSink() as smtp:
            yield Sinks(gateway, smtp)
