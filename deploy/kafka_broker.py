"""A real single-node Apache Kafka (KRaft) broker, fetched from Maven Central and run on loopback.

Used by the run command (`deploy/launcher.py`) and by the test session. The jars are cached under
`$SAFEGUARDING_CACHE` (default `~/.cache/safeguarding`), so only the first run downloads anything.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from deploy.processes import die_with_parent, stop_process

KAFKA_VERSION = "4.4.0"
DEPLOY_DIR = Path(__file__).resolve().parent
POM = DEPLOY_DIR / "kafka" / "pom.xml"
LOG4J_CONFIG = DEPLOY_DIR / "kafka" / "log4j2.properties"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, formatted or started."""


def cache_dir() -> Path:
    root = os.environ.get("SAFEGUARDING_CACHE") or str(Path.home() / ".cache" / "safeguarding")
    return Path(root) / "kafka" / KAFKA_VERSION


def fetch_jars() -> Path:
    """Download the pinned broker and its runtime jars once; return the folder holding them."""
    libs = cache_dir() / "libs"
    if (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is needed to fetch the Kafka broker from Maven Central")
    staging = cache_dir() / f"libs.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    print(f"fetching Apache Kafka {KAFKA_VERSION} from Maven Central (first run only)…", flush=True)
    result = subprocess.run(
        [
            "mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
            "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise BrokerError(
            f"mvn failed to fetch Kafka:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    # Rename last, so a half-finished download never looks like a cached one.
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(libs)
    staging.rename(libs)
    return libs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(data_dir / "data"),
        # Topics are created explicitly from shared/topics.py; a typo must fail, not create.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        # The cleaner allocates 128 MiB at start by default; the heap is kept small.
        "log.cleaner.dedupe.buffer.size": "33554432",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


@dataclass
class LocalKafka:
    """A running broker process. Use `start_local_kafka()` to get one and `stop()` to end it."""

    process: subprocess.Popen[bytes]
    bootstrap_servers: str
    run_dir: Path
    own_run_dir: bool
    jvm: list[str]

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Kafka's clean shutdown hook), then SIGKILL if it hangs; never leaves a JVM."""
        stop_process(self.process, timeout)
        if self.own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def kill(self) -> None:
        """kill -9, as a crash would (fault tests)."""
        self.process.kill()
        self.process.wait()

    def restart(self) -> None:
        """Start the JVM again on the same data folder and ports, as an operator would after a
        crash: nothing is reformatted, so every record the broker acknowledged must still be
        there (fault tests)."""
        if self.process.poll() is None:
            raise BrokerError("the broker is still running; kill() or stop() it first")
        self.process = _launch(self.jvm, self.run_dir)


async def wait_until_ready(bootstrap_servers: str, limit_seconds: float = 90.0) -> None:
    """Ready means an admin client's describe-cluster lists a broker, not merely an open port."""
    deadline = time.monotonic() + limit_seconds
    # aiokafka logs every refused connection at error level; while waiting they are expected.
    aiokafka_logger = logging.getLogger("aiokafka")
    previous_level = aiokafka_logger.level
    aiokafka_logger.setLevel(logging.CRITICAL)
    try:
        await _poll_until_ready(bootstrap_servers, deadline)
    finally:
        aiokafka_logger.setLevel(previous_level)


async def _poll_until_ready(bootstrap_servers: str, deadline: float) -> None:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            if cluster.get("brokers"):
                return
        except Exception as error:  # noqa: BLE001 - any failure here means "not yet"
            last_error = error
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.5)
    raise BrokerError(f"Kafka at {bootstrap_servers} not ready in time: {last_error!r}")


def start_local_kafka(
    run_dir: Path | None = None, port: int | None = None, heap: str = "512m"
) -> LocalKafka:
    """Format a fresh KRaft data folder and start the broker; returns once the JVM is launched."""
    libs = fetch_jars()
    if shutil.which("java") is None:
        raise BrokerError("Java 17+ is needed to run the local Kafka broker")
    own_run_dir = run_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix="kafka-")) if run_dir is None else run_dir
    shutil.rmtree(run_dir / "data", ignore_errors=True)  # a fresh log for every run
    run_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    properties = run_dir / "server.properties"
    properties.write_text(_server_properties(run_dir, port, free_port()))
    classpath = os.pathsep.join(str(jar) for jar in sorted(libs.glob("*.jar")))
    jvm = [
        "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={run_dir}",
        "-cp", classpath,
    ]  # fmt: skip
    cluster_id = str(_kafka_uuid())
    formatted = subprocess.run(
        [*jvm, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id,
         "-c", str(properties)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if formatted.returncode != 0:
        raise BrokerError(f"formatting Kafka storage failed:\n{formatted.stdout}{formatted.stderr}")
    return LocalKafka(_launch(jvm, run_dir), f"127.0.0.1:{port}", run_dir, own_run_dir, jvm)


def _launch(jvm: list[str], run_dir: Path) -> subprocess.Popen[bytes]:
    with (run_dir / "stdout.log").open("ab") as log:
        return subprocess.Popen(
            [*jvm, "kafka.Kafka", str(run_dir / "server.properties")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops the broker last
            preexec_fn=die_with_parent(),
        )


def _kafka_uuid() -> str:
    """Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. Like Kafka's
    own Uuid.randomUuid, refuse one starting with "-": the storage tool would read it as a flag."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


async def start_and_wait(run_dir: Path | None = None, port: int | None = None) -> LocalKafka:
    broker = start_local_kafka(run_dir, port)
    try:
        await wait_until_ready(broker.bootstrap_servers)
    except BaseException:
        broker.stop()
        raise
    if broker.process.poll() is not None:
        raise BrokerError(f"Kafka exited with {broker.process.returncode}; see {broker.run_dir}")
    return broker


def main() -> None:
    """`python -m deploy.kafka_broker fetch` downloads the jars; `run` starts a broker until Ctrl-C."""
    import sys

    command = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    if command == "fetch":
        print(f"Kafka {KAFKA_VERSION} jars: {fetch_jars()}")
        return
    if command == "run":

        async def serve() -> None:
            broker = await start_and_wait(port=int(sys.argv[2]) if len(sys.argv) > 2 else None)
            print(f"Kafka ready at {broker.bootstrap_servers}; Ctrl-C to stop", flush=True)
            try:
                await asyncio.Event().wait()
            finally:
                broker.stop()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
        return
    raise SystemExit(f"unknown command {command!r}: use fetch or run")


if __name__ == "__main__":
    main()
