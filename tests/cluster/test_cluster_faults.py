"""The fault suite, clustered: two processes of each of the four services on PostgreSQL (one
database a service, one consumer group a service: the partitions spread over both) against a
local three-node Kafka cluster (replication factor 3, min.insync.replicas 2), a steady stream of
police contacts, and one fault mid-stream: a broker killed or frozen, one instance of each service
killed -9 in turn, or every instance restarted one by one (a rolling deploy). The ground truth and
the tally are the single-broker suite's (tests/support/ground_truth.py): every acknowledged
contact must end with exactly one case, one alert, its tasks and one agenda item, and every SMS
and email sent once (a second copy only within the documented bound for a killed notifier).

What a caller sees: with two of three replicas left, the cluster keeps accepting acks=all writes,
so unlike the single-broker kill (tests/fault/test_broker_kill.py) nothing waits for the failed
node to come back. The generator posts to the two intake instances in turn, as a load balancer
would, and sends a POST that met a stopped instance again to the other one (the same contact:
intake de-duplicates). Every POST must be acknowledged; a produce may fail only from a broker
fault until its partitions have a new leader (plus a reconnect margin), and every other one must
succeed."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.kafka_cluster import REPLICATION_FACTOR, LocalKafkaCluster
from services.notifier.delivering import DELIVERY_CONCURRENCY
from shared.kafka import ensure_topics
from shared.topics import POLICE_CONTACTS, REFERRALS
from tests.fault.conftest import Sinks, generator, report, settled
from tests.support.databases import DatabaseUrls
from tests.support.ground_truth import (
    Contact,
    Fault,
    Generator,
    assert_no_message_duplicates,
    summary,
    unacknowledged_owed,
)
from tests.support.live import SERVICES, LiveSystem
from tests.support.postgres import Cluster

pytestmark = pytest.mark.cluster

INSTANCES = 2  # processes of each service
# Small enough for the file's budget (300 s for four scenarios, each starting eight processes, on
# two shared cores), long enough that the stream runs well past the failover: 30 s of contacts,
# the fault between 10% and 20% of it.
CONTACTS, RATE = 240, 8.0
# After a partition has a new leader, the generator's producer may need this long to see it
# (metadata refresh after NotLeaderForPartition, reconnect backoff). It only decides which
# produces the test may excuse.
PRODUCER_RECONNECT_SECONDS = 5.0
KILLED_SECONDS = 6.0  # the killed node stays down this long (the fault itself)
# The 30 s: five times the broker session timeout (6 s), so the paused node is fenced,
# loses its leaderships and ISR places, and must find that out and catch up when it wakes. Its
# stream is longer (45 s) and the pause comes earlier (5-10% in), so that contacts still flow for
# several seconds after the node wakes.
PAUSED_SECONDS = 30.0
PAUSE_CONTACTS = 360
# One instance of each service killed -9 in turn through a 25 s stream, each started again this
# long after its kill (a supervisor's restart delay).
KILL_CONTACTS = 200
KILL_AT = (0.12, 0.32, 0.52, 0.72)  # of the stream: intake#1, notifier#1, casework#1, meetings#1
RESTART_AFTER_SECONDS = 3.0
# Rolling restart: starts this far into the stream; the stream goes on this long after the last
# instance is ready again (up to ROLL_CONTACTS in all).
ROLL_START_SECONDS = 2.0
ROLL_TAIL_SECONDS = 3.0
ROLL_CONTACTS = 600


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
        sinks.gateway, sinks.smtp.port, instances=INSTANCES,
    )  # fmt: skip
    return Rig(kafka_cluster, prefix, databases, live, sinks)


def contact_generator(rig: Rig, run_id: str) -> Generator:
    return generator(
        rig.live.urls("intake"),
        rig.cluster.bootstrap_servers,
        rig.prefix,
        f"{run_id}-{rig.prefix.strip('.')}",
    )


async def stream_with_fault(
    rig: Rig,
    run_id: str,
    fault: Callable[[], None],
    contacts: int = CONTACTS,
    window: tuple[float, float] = (0.1, 0.2),
) -> tuple[list[Contact], float, asyncio.Task[list[Contact]]]:
    """Start the stream and call `fault` within `window` of it (fractions); returns the stream's
    task and the moment of the fault."""
    fault_at_contact = int(contacts * random.Random(run_id).uniform(*window))
    happened = asyncio.Event()
    at = 0.0

    def on_sent(sent: int) -> None:
        nonlocal at
        if sent == fault_at_contact and not happened.is_set():
            fault()
            at = time.monotonic()
            happened.set()

    gen = contact_generator(rig, run_id)
    stream = asyncio.create_task(gen.run(contacts, RATE, on_sent=on_sent))
    await asyncio.wait_for(happened.wait(), timeout=contacts / RATE + 30)
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


def retried(contacts: list[Contact]) -> int:
    """POSTs sent again to the other intake instance after meeting a stopped one."""
    return sum(c.attempts > 1 for c in contacts if c.via == "http")


def every_send_acknowledged(contacts: list[Contact]) -> None:
    """No broker fault: every POST and every produce must be acknowledged."""
    assert not (refused := [f"{c.police_reference} by {c.via}: {c.status}" for c in contacts
                            if not c.acknowledged]), (
        f"{len(refused)} sends were not acknowledged: {refused[:5]}"
    )  # fmt: skip


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
        "cluster: referrals leader killed (postgresql, 3 brokers, 2 instances each)",
        summary(contacts, faults)
        | {"produces failed": sum(c.via == "kafka" and not c.acknowledged for c in contacts),
           "killed node": victim, "it led referrals partitions": led,
           "new leaders": new_leaders,
           "leaders moved after kill s": round(moved, 1),
           "node down s": round(restarted - killed_at, 1),
           "partitions under-replicated while down": len(shrunk),
           "node registered after restart s": round(back, 1),
           "full ISR after restart s": round(full_isr, 1),
           "POSTs retried on the other intake": retried(contacts),
           "settled after stream s": round(settle, 1)},
        found, contacts,
    )  # fmt: skip
    assert victim not in new_leaders.values()
    assert shrunk, "no partition lost an in-sync replica: the node was not really gone"
    check(contacts, faults, found.problems(contacts))
    assert found.missing_messages(contacts) == 0
    await assert_no_message_duplicates(rig.databases, found)
    assert await cluster.under_replicated() == []


async def test_broker_paused_mid_stream_loses_and_duplicates_nothing(rig: Rig) -> None:
    cluster = rig.cluster
    # The leader of an ingress partition: the generator's own produces meet the frozen node.
    victim = await cluster.leader_of(POLICE_CONTACTS.full_name(rig.prefix), 0)
    async with rig.live as live:
        contacts, paused_at, stream = await stream_with_fault(
            rig, "broker-pause", lambda: cluster.pause(victim), PAUSE_CONTACTS, (0.05, 0.1)
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
        "cluster: broker paused (postgresql, 3 brokers, 2 instances each)",
        summary(contacts, faults)
        | {"produces failed": sum(c.via == "kafka" and not c.acknowledged for c in contacts),
           "paused node": victim, "paused s": round(resumed_at - paused_at, 1),
           "leaders moved after pause s": round(moved, 1),
           "partitions under-replicated while frozen": len(shrunk),
           "node registered after resume s": round(back, 1),
           "POSTs retried on the other intake": retried(contacts),
           "settled after stream s": round(settle, 1),
           "full ISR after resume s": round(full_isr, 1)},
        found, contacts,
    )  # fmt: skip
    assert shrunk, "no partition lost an in-sync replica: the node was not really frozen"
    check(contacts, faults, found.problems(contacts))
    assert found.missing_messages(contacts) == 0
    await assert_no_message_duplicates(rig.databases, found)
    assert await cluster.under_replicated() == []


async def test_one_instance_of_each_service_killed_in_turn_loses_and_duplicates_nothing(
    rig: Rig,
) -> None:
    """kill -9 intake#1, notifier#1, casework#1 and meeting_scheduler#1 in turn through one
    stream, each started again RESTART_AFTER_SECONDS later; the other instance of each goes on
    (its consumer group gives it the killed one's partitions after the session timeout; a
    notification the killed notifier had claimed waits out its lease)."""
    victims = [f"{name}#1" for name in SERVICES]
    kill_at = {
        int(KILL_CONTACTS * share): victim for share, victim in zip(KILL_AT, victims, strict=True)
    }
    killed: dict[str, float] = {}
    ready: dict[str, float] = {}
    restarts: list[asyncio.Task[None]] = []

    async def restart_later(victim: str) -> None:
        await asyncio.sleep(RESTART_AFTER_SECONDS)
        ready[victim] = await rig.live.restart(victim)

    def on_sent(sent: int) -> None:
        if (victim := kill_at.get(sent)) is not None and victim not in killed:
            rig.live[victim].kill()
            killed[victim] = time.monotonic()
            restarts.append(asyncio.create_task(restart_later(victim)))

    async with rig.live as live:
        gen = contact_generator(rig, "instance-kills")
        started = time.monotonic()
        contacts = await gen.run(KILL_CONTACTS, RATE, on_sent=on_sent)
        await asyncio.gather(*restarts)
        found, settle = await settled(rig.databases, contacts, rig.sinks, within=180)
        for name in live.services:
            assert live[name].running(), f"{name} died during the kills"

    assert list(killed) == victims, killed
    # A notification the killed notifier had sent but not yet recorded as sent is sent again by
    # the other once its lease runs out: at most the sends in flight at the kill.
    bound = DELIVERY_CONCURRENCY
    report(
        "cluster: one instance of each service killed -9 in turn (postgresql, 3 brokers, "
        "2 instances each)",
        summary(contacts)
        | {"killed at s": {v: round(at - started, 1) for v, at in killed.items()},
           "restarted after s": RESTART_AFTER_SECONDS,
           "ready after restart s": {v: round(s, 1) for v, s in ready.items()},
           "POSTs retried on the other intake": retried(contacts),
           "settled after stream s": round(settle, 1),
           "message duplicates bound": bound},
        found, contacts,
    )  # fmt: skip
    every_send_acknowledged(contacts)
    assert found.problems(contacts) == {}
    assert found.missing_messages(contacts) == 0
    assert found.message_duplicates() <= bound


async def test_rolling_restart_of_every_instance_is_zero_downtime(rig: Rig) -> None:
    """A zero-downtime deploy: every instance of every service in turn gets SIGTERM, is waited
    for, started again and waited for until ready, while contacts stream in. The other instance
    of each service carries the load meanwhile: every POST is acknowledged (a POST that meets the
    stopping intake goes to the other), and a graceful stop sends nothing twice."""
    stop = asyncio.Event()
    stopped: dict[str, tuple[float, int]] = {}  # label → (seconds to exit, exit code)
    ready: dict[str, float] = {}

    async def roll() -> None:
        await asyncio.sleep(ROLL_START_SECONDS)
        for label, process in rig.live.services.items():
            began = time.monotonic()
            code = await asyncio.to_thread(process.terminate)
            stopped[label] = (time.monotonic() - began, code)
            process.spawn()
            ready[label] = await process.wait_ready()
        await asyncio.sleep(ROLL_TAIL_SECONDS)
        stop.set()

    async with rig.live as live:
        gen = contact_generator(rig, "rolling-restart")
        started = time.monotonic()
        rolling = asyncio.create_task(roll())
        contacts = await gen.run(ROLL_CONTACTS, RATE, stop=stop)
        await rolling
        streamed = time.monotonic() - started
        found, settle = await settled(rig.databases, contacts, rig.sinks, within=180)
        for name in live.services:
            assert live[name].running(), f"{name} died after its restart"

    report(
        "cluster: rolling restart of every instance (postgresql, 3 brokers, 2 instances each)",
        summary(contacts)
        | {"stream s": round(streamed, 1),
           "instances restarted": len(ready),
           "stop s max": round(max(s for s, _ in stopped.values()), 1),
           "exit codes": sorted({code for _, code in stopped.values()}),
           "ready after start s": {label: round(s, 1) for label, s in ready.items()},
           "POSTs retried on the other intake": retried(contacts),
           "settled after stream s": round(settle, 1)},
        found, contacts,
    )  # fmt: skip
    assert set(ready) == set(rig.live.services), "the stream ended before the roll did"
    # A clean stop ends with the SIGTERM re-raised (-15) or 0; -9 is stop_process's SIGKILL after
    # its timeout: the instance hung in its shutdown.
    assert {label: code for label, (_, code) in stopped.items() if code == -signal.SIGKILL} == {}, (
        "an instance did not stop within its timeout after SIGTERM"
    )
    every_send_acknowledged(contacts)
    assert found.problems(contacts) == {}
    assert found.missing_messages(contacts) == 0
    await assert_no_message_duplicates(rig.databases, found)
