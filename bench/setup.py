"""What the benchmark runs on: one local Kafka broker or a three-node cluster, SQLite or a
throwaway PostgreSQL cluster, and how many processes of each service (`--kafka`, `--database`,
`--instances`), and with which timing settings (`--timing`). `Infrastructure` starts and stops the Kafka and PostgreSQL side; the services are
started per scenario by the system rig (bench/system.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from deploy.kafka_broker import KAFKA_VERSION, start_and_wait
from deploy.kafka_cluster import MIN_INSYNC_REPLICAS, REPLICATION_FACTOR, LocalKafkaCluster
from tests.support.postgres import Cluster, create_database, start_cluster

DATABASES = ("sqlite", "postgresql")
KAFKAS = ("single", "cluster")
MAX_INSTANCES = 8  # two cores: more would measure the scheduler, not the services
# test: the test harness's short polls and 2 s raid batches (tests/support/live.py), as every
# earlier report; shipped: each poll at its shipped default and the shipped alerting.yaml's burst
# window and batch (bench/system.py `shipped_timing_env`).
TIMINGS = ("test", "shipped")


class SetupRefused(ValueError):
    """A combination the services themselves would refuse, said before anything starts."""


@dataclass(frozen=True)
class Setup:
    database: str = "sqlite"
    kafka: str = "single"
    instances: int = 1
    timing: str = "test"
    # Each service counts its Kafka records, SQL statements and commits (bench/work_hook): the
    # counts `python -m bench.floor` prices. Off by default: the counting itself costs a little.
    count_work: bool = False

    def check(self) -> None:
        if self.database not in DATABASES:
            raise SetupRefused(f"--database must be one of {', '.join(DATABASES)}")
        if self.kafka not in KAFKAS:
            raise SetupRefused(f"--kafka must be one of {', '.join(KAFKAS)}")
        if self.timing not in TIMINGS:
            raise SetupRefused(f"--timing must be one of {', '.join(TIMINGS)}")
        if not 1 <= self.instances <= MAX_INSTANCES:
            raise SetupRefused(f"--instances must be between 1 and {MAX_INSTANCES}")
        if self.database == "sqlite" and self.instances > 1:
            raise SetupRefused(
                f"--instances {self.instances} needs --database postgresql: on SQLite each service "
                "is single-instance and a second copy refuses to start (shared/instance_lock.py)"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "kafka": self.kafka,
            "instances": self.instances,
            "timing": self.timing,
            "count_work": self.count_work,
        }


def describe(setup: Setup) -> str:
    kafka = "one Kafka broker" if setup.kafka == "single" else "three-node Kafka cluster"
    each = "one instance" if setup.instances == 1 else f"{setup.instances} instances"
    timing = ", shipped timing" if setup.timing == "shipped" else ""
    counted = ", work counted" if setup.count_work else ""
    return f"{kafka}, {setup.database}, {each} of each service{timing}{counted}"


def instance_names(service: str, instances: int) -> list[str]:
    """How each process of a service is named in the report: the service's own name when it runs
    once (as before there was a choice), `intake.1`, `intake.2` … when it runs several times."""
    if instances == 1:
        return [service]
    return [f"{service}.{number}" for number in range(1, instances + 1)]


def service_of(instance: str) -> str:
    """`intake.2` → `intake`; a service's own name → itself (service names have no dots)."""
    return instance.split(".", 1)[0]


def per_service(values: dict[str, float]) -> dict[str, float]:
    """Per-instance figures (CPU ms per contact…) summed for each service."""
    totals: dict[str, float] = {}
    for instance, value in values.items():
        totals[service_of(instance)] = totals.get(service_of(instance), 0.0) + value
    return {name: round(value, 2) for name, value in sorted(totals.items())}


class _Stoppable(Protocol):
    def stop(self) -> None: ...


class Infrastructure:
    """`async with Infrastructure(setup) as infra:` Kafka (and PostgreSQL) for the whole run;
    `infra.bootstrap_servers`, `infra.replication_factor` for topics, `await
    infra.databases(label, names)` for a scenario's fresh databases (None: SQLite files)."""

    def __init__(self, setup: Setup) -> None:
        setup.check()
        self.setup = setup
        self.bootstrap_servers = ""
        self.replication_factor: int | None = None  # None: ensure_topics picks (1 on one broker)
        self.postgres: Cluster | None = None
        self.description: dict[str, Any] = {}
        self._kafka: _Stoppable | None = None

    async def __aenter__(self) -> Infrastructure:
        try:
            if self.setup.kafka == "single":
                print("starting a local Kafka broker …", flush=True)
                broker = await start_and_wait()
                self._kafka = broker
                self.bootstrap_servers = broker.bootstrap_servers
                self.description["kafka"] = f"Apache Kafka {KAFKA_VERSION}, one broker"
            else:
                print("starting a local three-node Kafka cluster …", flush=True)
                cluster = LocalKafkaCluster()
                self._kafka = cluster  # stop() works on a half-started cluster too
                seconds = await cluster.start()
                self.bootstrap_servers = cluster.bootstrap_servers
                self.replication_factor = REPLICATION_FACTOR
                self.description["kafka"] = (
                    f"Apache Kafka {KAFKA_VERSION}, {cluster.size} KRaft nodes "
                    f"(broker+controller), topics with replication factor {REPLICATION_FACTOR} and "
                    f"min.insync.replicas {MIN_INSYNC_REPLICAS}; ready in {seconds:.1f} s"
                )
            print(f"Kafka ready at {self.bootstrap_servers}", flush=True)
            if self.setup.database == "postgresql":
                print("starting a throwaway PostgreSQL cluster …", flush=True)
                self.postgres = await asyncio.to_thread(start_cluster)
                self.description["postgresql"] = (
                    self.postgres.describe()
                    + " (as the tests run it: fsync=off, so commits cost no disk flush)"
                )
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.postgres is not None:
            print("stopping PostgreSQL …", flush=True)
            self.postgres.stop()
            self.postgres = None
        if self._kafka is not None:
            print("stopping the Kafka broker …", flush=True)
            self._kafka.stop()
            self._kafka = None

    async def databases(self, label: str, names: tuple[str, ...]) -> dict[str, str] | None:
        """A fresh PostgreSQL database per service for one scenario; None on SQLite (the rig
        makes its own files)."""
        if self.postgres is None:
            return None
        # PostgreSQL names stop at 63 bytes: bench_<24>_meeting_scheduler_<8> fits.
        tag = "".join(c if c.isalnum() else "_" for c in label.lower())[:24]
        return {
            name: await create_database(
                self.postgres.admin_url, f"bench_{tag}_{name}_{uuid.uuid4().hex[:8]}"
            )
            for name in names
        }
