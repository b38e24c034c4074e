"""The fault suite, clustered: the four services (one process each) on PostgreSQL against a local
three-node Kafka cluster (replication factor 3, min.insync.replicas 2), a steady stream of police
contacts, and one broker failing mid-stream. The ground truth and the tally are the single-broker
suite's (tests/support/ground_truth.py): every acknowledged contact must end with exactly one
case, one alert, its tasks and one agenda item, and every SMS and email sent exactly once.

What a caller sees: with two of three replicas left, the cluster keeps accepting acks=all writes,
so unlike the single-broker kill (tests/fault/test_broker_kill.py) nothing waits for the failed
node to come back. Every POST must be acknowledged; a produce may fail only from the fault until
its partitions have a new leader (plus a reconnect margin), and every other one must succeed."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.kafka_cluster import REPLICATION_FACTOR, LocalKafkaCluster
from shared.kafka import ensure_topics
from shared.topics import POLICE_CONTACTS, REFERRALS
from tests.fault.conftest import Sinks, generator, report, settled
from tests.support.databases import DatabaseUrls
from tests.support.ground_truth import Contact, Fault, summary, unacknowledged_owed
from tests.support.live import SERVICES, LiveSystem
from tests.support.postgres import Cluster

pytestmark = pytest.mark.cluster

# Small enough for the file's ~90 s budget on two shared cores, long enough that the stream runs
# well past the failover: 30 s of contacts, the fault between 10% and 20% of it.
CONTACTS, RATE = 240, 8.0
# After a partition has a new leader, the generator's producer may need this long to see it
# (metadata refresh after NotLeaderForPartition, reconnect backoff). It only decides which
# produces the test may excuse.
PRODUCER_RECONNECT_SECONDS = 5.0
KILLED_SECONDS = 6.0  # the killed node stays down this long (the fault itself)
# The issue asks for 30 s; 15 s keeps the file within its budget and is still well past the
# broker session timeout (6 s), so the paused node is fenced, loses its leaderships and ISR
# places, and must find that out and catch up when it wakes: the same paths as 30 s.
PAUSED_SECONDS = 15.0


@dataclass
class Rig:
    cluster: LocalKafkaCluster
    prefix: str
    databases: dict[str, str]
    live: LiveSystem
    sinks: Sinks


@pytest.fixture
async def rig(
    kafka_cluster: LocalKafkaCluster, postgres_cluster: Cluster, sinks: Sinks, tmp_path: Path
) -> Rig:
    await kafka_cluster.wait_until_ready(60)
    prefix = f"c{uuid.uuid4().hex[:10]}."
    await ensure_topics(
        kafka_cluster.bootstrap_servers, prefix, replication_factor=REPLICATION_FACTOR
    )
    urls = DatabaseUrls("postgresql", tmp_path, postgres_cluster)
    databases = {name: await urls.new(name) for name in SERVICES}
    live = LiveSystem(
        kafka_cluster.bootstrap_servers, prefix, databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port,
    )  # fmt: skip
    return Rig(kafka_cluster, prefix, databases, live, sinks)


async def stream_with_fault(
    rig: Rig, run_id: str, fault: Callable[[], None]
) -> tuple[list[Contact], float, asyncio.Task[list[Contact]]]:
    """Start the stream and call `fault` between 10% and 20% of it; returns the stream's task and
    the moment of the fault."""
    fault_at_contact = int(CONTACTS * random.Random(run_id).uniform(0.1, 0.2))
    happened = asyncio.Event()
    at = 0.0

    def on_sent(sent: int) -> None:
        nonlocal at
        if sent == fault_at_contact and not happened.is_set():
            fault()
            at = time.monotonic()
            happened.set()

    gen = generator(
        rig.live["intake"].url,
        rig.cluster.bootstrap_servers,
        rig.prefix,
        f"{run_id}-{rig.prefix.strip('.')}",
    )
    stream = asyncio.create_task(gen.run(CONTACTS, RATE, on_sent=on_sent))
    await asyncio.wait_for(happened.wait(), timeout=CONTACTS / RATE + 30)
    return gen.contacts, at, stream


def check(contacts: list[Contact], faults: list[Fault], found_problems: dict[str, int]) -> None:
    posts = [c for c in contacts if c.via == "http"]
    assert not (refused := [f"{c.police_reference}: {c.status}" for c in posts
                            if not c.acknowledged]), (
        f"{len(refused)} POSTs were not acknowledged: {refused[:5]}"
    )  # fmt: skip
    assert not (unowed := unacknowledged_owed(contacts, faults)), (
        f"{len(unowed)} contacts sent outside the fault were not acknowledged: {unowed[:5]}"
    )
    assert any(c.via == "kafka" and c.planned_at > max(f.end for f in faults) for c in contacts), (
        "the stream ended before the failover was over: the test proves nothing"
    )
    assert found_problems == {}


async def test_partition_leader_killed_mid_stream_loses_and_duplicates_nothing(rig: Rig) -> None:
    cluster = rig.cluster
    referrals = REFERRALS.full_name(rig.prefix)
    victim = await cluster.leader_of(referrals, 0)
    led = [
        p for p in range(REFERRALS.partitions) if await cluster.leader_of(referrals, p) == victim
    ]
    async with rig.live as live:
        contacts, killed_at, stream = await stream_with_fault(
            rig, "leader-kill", lambda: cluster.kill(victim)
        )
        moved = await cluster.wait_leaderless(victim)
        moved_at = killed_at + moved
        new_leaders = {p: await cluster.leader_of(referrals, p) for p in led}
        shrunk = await cluster.under_replicated()
        # The fault itself: the node stays down this long from the kill.
        await asyncio.sleep(max(killed_at + KILLED_SECONDS - time.monotonic(), 0))
        cluster.restart(victim)
        restarted = time.monotonic()
        in_sync = asyncio.create_task(cluster.wait_full_isr(90))  # seconds from the restart
        back = await cluster.wait_until_ready(90)
        contacts = await stream
        found, settle = await settled(rig.databases, contacts, rig.sinks, within=180)
        full_isr = await in_sync
        for name in live.services:
            assert live[name].running(), f"{name} died during the failover"

    faults = [Fault("kafka", killed_at, moved_at + PRODUCER_RECONNECT_SECONDS)]
    report(
        "cluster: referrals leader killed (postgresql, 3 brokers)",
        summary(contacts, faults)
        | {"produces failed": sum(c.via == "kafka" and not c.acknowledged for c in contacts),
           "killed node": victim, "it led referrals partitions": led,
           "new leaders": new_leaders,
           "leaders moved after kill s": round(moved, 1),
           "node down s": round(restarted - killed_at, 1),
           "partitions under-replicated while down": len(shrunk),
           "node registered after restart s": round(back, 1),
           "full ISR after restart s": round(full_isr, 1),
           "settled after stream s": round(settle, 1)},
        found, contacts,
    )  # fmt: skip
    assert victim not in new_leaders.values()
    assert shrunk, "no partition lost an in-sync replica: the node was not really gone"
    check(contacts, faults, found.problems(contacts))
    assert found.missing_messages(contacts) == 0
    assert found.message_duplicates() == 0
    assert await cluster.under_replicated() == []


async def test_broker_paused_mid_stream_loses_and_duplicates_nothing(rig: Rig) -> None:
    cluster = rig.cluster
    # The leader of an ingress partition: the generator's own produces meet the frozen node.
    victim = await cluster.leader_of(POLICE_CONTACTS.full_name(rig.prefix), 0)
    async with rig.live as live:
        contacts, paused_at, stream = await stream_with_fault(
            rig, "broker-pause", lambda: cluster.pause(victim)
        )
        moved = await cluster.wait_leaderless(victim)
        shrunk = await cluster.under_replicated()
        # The fault itself: frozen this long from the pause (a metadata request that reached the
        # frozen node above waited for its timeout, so the time is counted from the pause).
        await asyncio.sleep(max(paused_at + PAUSED_SECONDS - time.monotonic(), 0))
        cluster.resume(victim)
        resumed_at = time.monotonic()
        back = await cluster.wait_until_ready(90)  # unfenced again: it has caught up metadata
        await cluster.wait_full_isr(90)
        full_isr = time.monotonic() - resumed_at
        contacts = await stream
        found, settle = await settled(rig.databases, contacts, rig.sinks, within=180)
        for name in live.services:
            assert live[name].running(), f"{name} died while a broker was frozen"

    # A request already sent to the frozen node waits for its answer until it wakes.
    faults = [Fault("kafka", paused_at, resumed_at + PRODUCER_RECONNECT_SECONDS)]
    report(
        "cluster: broker paused (postgresql, 3 brokers)",
        summary(contacts, faults)
        | {"produces failed": sum(c.via == "kafka" and not c.acknowledged for c in contacts),
           "paused node": victim, "paused s": round(resumed_at - paused_at, 1),
           "leaders moved after pause s": round(moved, 1),
           "partitions under-replicated while frozen": len(shrunk),
           "node registered after resume s": round(back, 1),
           "settled after stream s": round(settle, 1),
           "full ISR after resume s": round(full_isr, 1)},
        found, contacts,
    )  # fmt: skip
    assert shrunk, "no partition lost an in-sync replica: the node was not really frozen"
    check(contacts, faults, found.problems(contacts))
    assert found.missing_messages(contacts) == 0
    assert found.message_duplicates() == 0
    assert await cluster.under_replicated() == []
