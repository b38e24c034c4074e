"""The four services as real processes (`faststream run`, as the run command starts them), each
with its own database, log file and port, so a test can kill -9 one, SIGTERM one mid-work, and
start it again on the same database; or several processes of each service on one database
(`instances`, PostgreSQL only), named "notifier#1", "notifier#2", each with its own port and log,
in the service's one consumer group. Used by the fault suite and the benchmarks."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.kafka_broker import free_port
from deploy.processes import die_with_parent, stop_process
from tests.support import system
from tests.support.http_gateway import Gateway
from tests.support.notifier import write_policy, write_rota
from tests.support.signing import event_settings

SERVICES = ("intake", "notifier", "casework", "meeting_scheduler")
ENV_PREFIX = {
    "intake": "INTAKE",
    "notifier": "NOTIFIER",
    "casework": "CASEWORK",
    "meeting_scheduler": "MEETINGS",
}


# Casework accepts a token only for a person on the rota; LiveSystem's rota is
# tests/support/notifier.write_rota's (advisor-a, advisor-b, head).
LIVE_STAFF_TOKENS = {
    "head": "test-token-head",
    "advisor-a": "test-token-advisor-a",
    "advisor-b": "test-token-advisor-b",
}


def _secret_map(values: dict[str, str]) -> str:
    return json.dumps(values)


def service_env(
    name: str,
    kafka: str,
    prefix: str,
    database_url: str,
    folder: Path,
    extra: dict[str, str],
) -> dict[str, str]:
    """Environment of one service process: test secrets, short polls, its own database."""
    p = ENV_PREFIX[name]
    env = dict(os.environ) | {
        "SAFEGUARDING_ENV": "test",
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KAFKA_TOPIC_PREFIX": prefix,
        "LOG_LEVEL": "INFO",
        f"{p}_DATABASE_URL": database_url,
        f"{p}_CONSUMER_RETRY_BACKOFF_SECONDS": "0.05",
        f"{p}_OUTBOX_POLL_SECONDS": "0.2",
    }
    signing = event_settings(name)
    env |= {
        f"{p}_EVENT_SIGNING_KEY_ID": signing["event_signing_key_id"],
        f"{p}_EVENT_SIGNING_KEY": signing["event_signing_key"],
        "EVENT_PUBLIC_KEYS": json.dumps(signing["EVENT_PUBLIC_KEYS"]),
    }
    if name == "intake":
        env |= {
            "INTAKE_VAULT_KEY": system.TEST_VAULT_KEY,
            "INTAKE_VAULT_KEY_ID": "test-1",
            "INTAKE_POLICE_KEYS": _secret_map({system.TEST_POLICE_KEY_ID: system.TEST_POLICE_KEY}),
            "INTAKE_HEARTBEAT_SECONDS": "0",  # as in tests/support/system.py: counts stay exact
        }
    elif name == "notifier":
        env |= {
            "NOTIFIER_ROTA_FILE": str(folder / "rota.yaml"),
            "NOTIFIER_ALERTING_FILE": str(folder / "alerting.yaml"),
            "NOTIFIER_ACK_SECRET": str(system.TEST_SETTINGS_NOTIFIER["ack_secret"]),
            "NOTIFIER_STAFF_TOKENS": _secret_map({"head": LIVE_STAFF_TOKENS["head"]}),
            "NOTIFIER_DISPATCH_POLL_SECONDS": "0.2",
            "NOTIFIER_DELIVERY_LEASE_SECONDS": "10",
        }
    elif name == "casework":
        env |= {
            "CASEWORK_STAFF_TOKENS": _secret_map(LIVE_STAFF_TOKENS),
            "CASEWORK_CONFIG_FILE": str(system.ROOT / "deploy" / "config" / "casework.yaml"),
            "CASEWORK_DIRECTORY_FILE": str(
                system.ROOT / "deploy" / "config" / "services-directory.yaml"
            ),
            "CASEWORK_ROTA_FILE": str(folder / "rota.yaml"),
            "CASEWORK_CHASE_POLL_SECONDS": "0.5",
        }
    else:
        env |= {
            "MEETINGS_COORDINATOR_TOKENS": _secret_map({"coordinator": "test-token-coordinator"}),
            "MEETINGS_HEAD_OF_SERVICE_TOKENS": _secret_map({"head-of-service": "test-token-head"}),
            "MEETINGS_CALENDAR_FILE": str(system.ROOT / "deploy" / "config" / "meetings.yaml"),
            "MEETINGS_TRAINING_PACE_WARNINGS": "false",  # as in tests/support/system.py
        }
    return env | extra


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    label: str = ""  # "notifier#2" when a LiveSystem runs several of a service; else the name

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"{self.name} is already running")
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "faststream", "run",
                 f"services.{self.name}.main:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=system.ROOT, env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )  # fmt: skip
        self.starts += 1

    async def wait_ready(self, within: float = 90.0) -> float:
        """Seconds until /readyz answers 200 (the service reached Kafka and its database)."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"{self.label} exited with {self.process.returncode}; see {self.log}"
                    )
                try:
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                if time.monotonic() - started > within:
                    raise AssertionError(
                        f"{self.label} not ready in {within:.0f} s; see {self.log}"
                    )
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no shutdown hook, no flush, no commit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return stop_process(self.process, timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class LiveSystem:
    """`async with LiveSystem(...) as live:` starts the named services and stops them at the end.

    The notifier's rota points at `gateway` (SMS and voice) and the SMTP sink on `smtp_port`; its
    escalation steps are `step_seconds` apart (an hour by default, so a long stream of contacts
    raises exactly one round of notifications each), and a raid's grouped follow-ups are sent in
    batches of `batch_seconds` (None: the shipped alerting.yaml's).

    With `instances` above 1 (PostgreSQL databases only: SQLite is single-instance), each service
    runs that many processes on its one database, keyed "intake#1", "intake#2", ...; `of(name)`
    lists a service's processes and `urls(name)` their base URLs. With 1, the key is the name."""

    def __init__(
        self,
        kafka: str,
        prefix: str,
        database_urls: dict[str, str],
        folder: Path,
        gateway: Gateway,
        smtp_port: int,
        step_seconds: float = 3600.0,
        names: tuple[str, ...] = SERVICES,
        extra_env: dict[str, dict[str, str]] | None = None,
        instances: int = 1,
        batch_seconds: float | None = 2.0,
    ) -> None:
        if instances < 1:
            raise ValueError("instances must be at least 1")
        if instances > 1 and any(database_urls[n].startswith("sqlite") for n in names):
            raise ValueError("several instances need PostgreSQL: SQLite is single-instance")
        folder.mkdir(parents=True, exist_ok=True)
        write_rota(folder, gateway, smtp_port)
        write_policy(folder, step_seconds, batch_seconds=batch_seconds)
        self.folder = folder
        self.services: dict[str, ServiceProcess] = {}
        for name in names:
            env = service_env(
                name, kafka, prefix, database_urls[name], folder, (extra_env or {}).get(name, {})
            )
            for number in range(1, instances + 1):
                label = name if instances == 1 else f"{name}#{number}"
                log = folder / (f"{name}.log" if instances == 1 else f"{name}-{number}.log")
                self.services[label] = ServiceProcess(name, env, log, label=label)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def of(self, name: str) -> list[ServiceProcess]:
        """Every process of one service, in instance order."""
        return [service for service in self.services.values() if service.name == name]

    def urls(self, name: str) -> list[str]:
        return [service.url for service in self.of(name)]

    async def __aenter__(self) -> LiveSystem:
        try:
            for service in self.services.values():
                service.spawn()
            for service in self.services.values():
                await service.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """What stop_process does for each service (SIGTERM, 20 s for its clean shutdown, then
        SIGKILL), but to all of them at once: the shutdowns run in parallel, not one after another
        (0.2-0.4 s instead of 0.8-1.2 s for four idle services). One SIGTERM each: a second one could
        cut a server's clean shutdown short."""
        running = [
            s.process for s in self.services.values() if s.process and s.process.poll() is None
        ]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=20.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    async def restart(self, name: str) -> float:
        """Start a stopped or killed service (or instance: "notifier#2") again; seconds until it
        is ready."""
        self.services[name].spawn()
        return await self.services[name].wait_ready()

    def logs(self) -> str:
        return "\n".join(
            service.log.read_text(errors="replace")
            for service in self.services.values()
            if service.log.exists()
        )
