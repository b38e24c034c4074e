"""A local three-node Apache Kafka cluster (KRaft, every node both broker and controller) on
loopback, from the same cached Maven Central jars as the single broker (deploy/kafka_broker.py).

Plaintext only: it exists to show the system survives a broker failing (the clustered fault
suite, tests/cluster), not to be deployed; the secured single broker covers TLS, SCRAM and ACLs.
Cluster-wide defaults make every topic replicated three times with `min.insync.replicas=2`, so
an acks=all write survives the loss of any one node.

    python -m deploy.kafka_cluster run     # three nodes + the system's topics, until Ctrl-C
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from deploy.kafka_broker import (
    BrokerError,
    format_storage,
    free_ports,
    java_command,
    kafka_uuid,
    launch_broker,
)
from deploy.processes import stop_process

REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
# A node that stops heartbeating is fenced (and its partitions' leadership moved) after this long.
# Kafka's default is 9 s; a little shorter keeps a failover quick without fencing a node that is
# merely slow on a busy two-core machine.
BROKER_SESSION_TIMEOUT_MS = 6000


@dataclass(frozen=True)
class NodeAddress:
    node_id: int
    port: int  # clients and replication
    controller_port: int  # the KRaft metadata quorum


def plan_nodes(size: int, ports: list[int]) -> list[NodeAddress]:
    """Node ids 1..size, each with a client port and a controller port taken from `ports`."""
    if size < 1 or len(ports) != 2 * size or len(set(ports)) != len(ports):
        raise ValueError(f"{size} nodes need {2 * size} distinct ports")
    return [
        NodeAddress(number + 1, ports[2 * number], ports[2 * number + 1]) for number in range(size)
    ]


def node_properties(node: NodeAddress, nodes: list[NodeAddress], data_dir: Path) -> str:
    """server.properties of one combined broker+controller node of a static three-voter quorum."""
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    replication = min(REPLICATION_FACTOR, len(nodes))
    min_isr = min(MIN_INSYNC_REPLICAS, replication)
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.voters": voters,
        "log.dirs": str(data_dir),
        # Topics are created explicitly from shared/topics.py; a typo must fail, not create.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min_isr),
        "unclean.leader.election.enable": "false",
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        "broker.session.timeout.ms": str(BROKER_SESSION_TIMEOUT_MS),
        "broker.heartbeat.interval.ms": "1000",
        # The cleaner allocates 128 MiB at start by default; the heap is kept small.
        "log.cleaner.dedupe.buffer.size": "33554432",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


@dataclass
class KafkaNode:
    address: NodeAddress
    run_dir: Path
    jvm: list[str]
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False

    @property
    def node_id(self) -> int:
        return self.address.node_id

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def quorum_state(self) -> dict[str, Any]:
        """What this node last wrote about the metadata quorum (leaderId, leaderEpoch…)."""
        path = self.run_dir / "data" / "__cluster_metadata-0" / "quorum-state"
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return state


@dataclass
class LocalKafkaCluster:
    """`await cluster.start()`, then `cluster.bootstrap_servers`; `kill`, `pause`/`resume` and
    `restart` a node by its id; `stop()` at the end. Each node has its own folder (properties,
    data, server.log) under `run_dir`, and keeps its ports across restarts."""

    run_dir: Path | None = None
    size: int = 3
    heap: str = "256m"
    nodes: dict[int, KafkaNode] = field(default_factory=dict)
    own_run_dir: bool = False

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{node.address.port}" for node in self.nodes.values())

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(self.nodes)

    async def start(self, within: float = 120.0) -> float:
        """Format every node for one new cluster, launch them and wait until ready; returns the
        seconds it took. Stops whatever it started if the cluster does not come up."""
        started = time.monotonic()
        if self.run_dir is None:
            self.run_dir, self.own_run_dir = Path(tempfile.mkdtemp(prefix="kafka-cluster-")), True
        addresses = plan_nodes(self.size, free_ports(2 * self.size))
        cluster_id = kafka_uuid()
        for address in addresses:
            folder = self.run_dir / f"node-{address.node_id}"
            shutil.rmtree(folder, ignore_errors=True)  # a fresh log for every run
            folder.mkdir(parents=True)
            (folder / "server.properties").write_text(
                node_properties(address, addresses, folder / "data")
            )
            self.nodes[address.node_id] = KafkaNode(
                address, folder, java_command(self.heap, folder)
            )
        try:
            # Each format is a JVM start: run them side by side.
            with ThreadPoolExecutor(self.size) as pool:
                formats = [
                    pool.submit(
                        format_storage, node.jvm, node.run_dir / "server.properties", cluster_id, []
                    )
                    for node in self.nodes.values()
                ]
                for result in formats:
                    result.result()
            for node in self.nodes.values():
                node.process = launch_broker(node.jvm, node.run_dir)
            await self.wait_until_ready(within - (time.monotonic() - started))
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - started

    def _node(self, node_id: int) -> KafkaNode:
        if node_id not in self.nodes:
            raise BrokerError(f"no node {node_id}; the cluster has {self.node_ids}")
        return self.nodes[node_id]

    def kill(self, node_id: int) -> None:
        """kill -9, as a crash would."""
        node = self._node(node_id)
        if node.process is not None:
            node.process.kill()
            node.process.wait()
        node.paused = False

    def pause(self, node_id: int) -> None:
        """SIGSTOP: the node stays alive but answers nothing (a long GC pause, a frozen VM)."""
        node = self._node(node_id)
        assert node.process is not None
        node.process.send_signal(signal.SIGSTOP)
        node.paused = True

    def resume(self, node_id: int) -> None:
        node = self._node(node_id)
        assert node.process is not None
        node.process.send_signal(signal.SIGCONT)
        node.paused = False

    def restart(self, node_id: int) -> None:
        """Start a killed or stopped node again on its data and ports (nothing is reformatted)."""
        node = self._node(node_id)
        if node.running():
            raise BrokerError(f"node {node_id} is still running; kill() it first")
        node.process = launch_broker(node.jvm, node.run_dir)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM every node at once, then SIGKILL what is still running after `timeout`; never
        leaves a JVM behind. Not a graceful rolling stop: the last nodes' controlled shutdown waits
        for a quorum that has already gone, and the data is thrown away anyway."""
        live = [node for node in self.nodes.values() if node.running()]
        for node in live:
            assert node.process is not None
            if node.paused:
                node.process.send_signal(signal.SIGCONT)
                node.paused = False
            node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for node in live:
            assert node.process is not None
            stop_process(node.process, max(deadline - time.monotonic(), 0.1))
        if self.own_run_dir and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def quorum_leader(self) -> int | None:
        """The metadata quorum's leader, as the newest epoch any node recorded says, if that node
        is running and not paused; None while there is none (an election is due)."""
        states = [node.quorum_state() for node in self.nodes.values()]
        newest = max(states, key=lambda state: state.get("leaderEpoch", -1), default={})
        leader = newest.get("leaderId", -1)
        node = self.nodes.get(leader)
        if node is None or not node.running() or node.paused:
            return None
        return node.node_id

    async def registered(self) -> set[int]:
        """Node ids of the brokers the cluster's metadata lists as alive (registered, unfenced)."""
        async with self._admin() as admin:
            cluster = await admin.describe_cluster()
        return {broker["node_id"] for broker in cluster.get("brokers", [])}

    async def wait_until_ready(self, within: float = 90.0) -> float:
        """Until every node is registered and the metadata quorum has a leader; returns seconds."""
        return await self._until(self._ready, within, "cluster ready")

    async def _ready(self) -> bool:
        return self.quorum_leader() is not None and await self.registered() == set(self.nodes)

    async def leader_of(self, topic: str, partition: int) -> int:
        """The node id leading a partition, from the cluster's metadata (-1 while none does)."""
        for described in await self.describe_topics([topic]):
            for entry in described["partitions"]:
                if entry["partition"] == partition:
                    return int(entry["leader"])
        raise BrokerError(f"{topic}[{partition}] not in the cluster's metadata")

    async def describe_topics(
        self, topics: list[str] | None = None, within: float = 15.0
    ) -> list[dict[str, Any]]:
        """The topics' partitions (leader, replicas, isr) from the metadata of whichever node
        answers; tried again while the client still picks a node that has just failed."""
        deadline = time.monotonic() + within
        with quiet_aiokafka():
            while True:
                try:
                    async with self._admin() as admin:
                        described: list[dict[str, Any]] = await admin.describe_topics(topics)
                    return described
                except KafkaError:
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.25)

    async def wait_leaderless(self, node_id: int, within: float = 30.0) -> float:
        """Until no partition names `node_id` as its leader (a failed node was fenced and the
        others took its partitions over); returns seconds."""

        async def moved() -> bool:
            return not any(
                entry["leader"] == node_id
                for described in await self.describe_topics()
                for entry in described["partitions"]
            )

        return await self._until(moved, within, f"leadership moved off node {node_id}")

    async def under_replicated(self) -> list[str]:
        """Partitions (every topic, internal ones included) whose in-sync replicas are fewer than
        the cluster's nodes: empty once a returning node has caught up."""
        short = []
        for described in await self.describe_topics():
            for entry in described["partitions"]:
                if len(entry["isr"]) < len(self.nodes):
                    short.append(f"{described['topic']}[{entry['partition']}]")
        return short

    async def wait_full_isr(self, within: float = 90.0) -> float:
        """Until every partition has all nodes in sync again; returns seconds."""

        async def full() -> bool:
            return not await self.under_replicated()

        return await self._until(full, within, "every partition fully in sync")

    async def _until(self, check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
        started = time.monotonic()
        last_error: Exception | None = None
        with quiet_aiokafka():
            while True:
                try:
                    if await check():
                        return time.monotonic() - started
                except Exception as error:  # noqa: BLE001 - any failure here means "not yet"
                    last_error = error
                if time.monotonic() - started > within:
                    raise BrokerError(
                        f"{what}: not in {within:.0f} s ({last_error!r}); logs under {self.run_dir}"
                    )
                await asyncio.sleep(0.25)

    @contextlib.asynccontextmanager
    async def _admin(self) -> AsyncIterator[AIOKafkaAdminClient]:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000
        )
        await admin.start()
        try:
            yield admin
        finally:
            with contextlib.suppress(Exception):
                await admin.close()


@contextlib.contextmanager
def quiet_aiokafka() -> Iterator[None]:
    """aiokafka logs every refused connection at error level; with a node down they are expected."""
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def main() -> None:
    """`python -m deploy.kafka_cluster run`: three nodes and the system's topics (replication
    factor 3) until Ctrl-C or SIGTERM; the bootstrap servers are printed for
    KAFKA_BOOTSTRAP_SERVERS."""
    import sys

    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command != "run":
        raise SystemExit(f"unknown command {command!r}: use run")

    async def serve() -> None:
        from shared.kafka import ensure_topics

        cluster = LocalKafkaCluster()
        seconds = await cluster.start()
        try:
            await ensure_topics(cluster.bootstrap_servers, replication_factor=REPLICATION_FACTOR)
            print(
                f"Kafka cluster of {cluster.size} nodes ready in {seconds:.1f} s at "
                f"{cluster.bootstrap_servers} (node folders under {cluster.run_dir}); "
                "Ctrl-C to stop",
                flush=True,
            )
            stopping = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
            await stopping.wait()
        finally:
            cluster.stop()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
