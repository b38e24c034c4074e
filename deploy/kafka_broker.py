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
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from faststream.security import SASLScram512

from deploy.kafka_tls import BROKER_COMMON_NAME, make_throwaway_tls
from deploy.processes import die_with_parent, stop_process

KAFKA_VERSION = "4.4.0"
DEPLOY_DIR = Path(__file__).resolve().parent
POM = DEPLOY_DIR / "kafka" / "pom.xml"
LOG4J_CONFIG = DEPLOY_DIR / "kafka" / "log4j2.properties"


# The SCRAM users a secured broker is formatted with: the operator's `admin` (a super user, also
# the broker's own inter-broker identity), the police intake system, and each service.
PRINCIPALS = ("admin", "police-intake", "intake", "notifier", "casework", "meeting_scheduler")
ADMIN = "admin"
SCRAM = "SCRAM-SHA-512"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, formatted or started."""


@dataclass(frozen=True)
class BrokerSecurity:
    """How to reach a secured local broker: the CA that signed its certificate and each principal's
    SCRAM password (random for every broker; they live in memory and in its run folder only)."""

    ca_file: Path
    keystore_file: Path
    passwords: dict[str, str] = field(repr=False)
    admin_config: Path  # `--command-config` for Kafka's tools, as the admin principal

    def client_options(self, principal: str, password: str | None = None) -> dict[str, Any]:
        """aiokafka client arguments: TLS verified against the CA, then SCRAM-SHA-512."""
        return {
            "security_protocol": "SASL_SSL",
            "ssl_context": ssl.create_default_context(cafile=str(self.ca_file)),
            "sasl_mechanism": SCRAM,
            "sasl_plain_username": principal,
            "sasl_plain_password": self.passwords[principal] if password is None else password,
        }

    def faststream(self, principal: str) -> SASLScram512:
        """The same, as FastStream and shared/kafka.py take it."""
        return SASLScram512(
            principal,
            self.passwords[principal],
            ssl_context=ssl.create_default_context(cafile=str(self.ca_file)),
            use_ssl=True,
        )

    def service_env(self, principal: str) -> dict[str, str]:
        """The settings a service reads (shared/settings.py) to connect as `principal`."""
        return {
            "KAFKA_SECURITY": "sasl_scram_sha_512",
            "KAFKA_CA_FILE": str(self.ca_file),
            "KAFKA_USERNAME": principal,
            "KAFKA_PASSWORD": self.passwords[principal],
        }


def make_broker_security(folder: Path) -> BrokerSecurity:
    """A throwaway CA and broker certificate, a password per principal, and the admin's client
    configuration for Kafka's tools: all in `folder`, readable by this user only."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    tls = make_throwaway_tls(folder)
    passwords = {name: secrets.token_urlsafe(24) for name in PRINCIPALS}
    admin_config = folder / "admin.properties"
    admin_config.touch(mode=0o600)
    admin_config.write_text(
        "security.protocol=SASL_SSL\n"
        f"sasl.mechanism={SCRAM}\n"
        f"sasl.jaas.config={_scram_login(ADMIN, passwords[ADMIN])}\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={tls.ca_file}\n"
    )
    return BrokerSecurity(tls.ca_file, tls.keystore_file, passwords, admin_config)


def _scram_login(user: str, password: str) -> str:
    # token_urlsafe passwords need no quoting inside the JAAS string.
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";'
    )


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


# Every port this process has handed out. A caller often binds its port later, in a child process
# (a LiveSystem picks a port for each service, then starts them), and until then the kernel may
# give the same port to the next bind(0): CI once gave casework and the meeting scheduler one
# port, and the meeting scheduler answered casework's readiness probe while casework had exited.
# So no port is handed out twice in one process; the ephemeral range (about 28,000 ports) is far
# larger than a test session's few thousand.
_ISSUED: set[int] = set()
_ISSUED_LOCK = threading.Lock()
_ATTEMPTS = 500  # each attempt holds a socket (a file descriptor) until the call returns


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports that this process has not handed out before. Every
    socket stays bound until all are chosen, so one call cannot get the same port twice either."""
    with _ISSUED_LOCK, contextlib.ExitStack() as stack:
        chosen: list[int] = []
        for _ in range(_ATTEMPTS):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port in _ISSUED:
                continue  # held until the end, so the kernel offers another next time
            chosen.append(port)
            if len(chosen) == count:
                _ISSUED.update(chosen)
                return chosen
        raise RuntimeError(f"no {count} unissued free ports in {_ATTEMPTS} attempts")


def free_port() -> int:
    return free_ports(1)[0]


def _server_properties(
    data_dir: Path, port: int, controller_port: int, security: BrokerSecurity | None = None
) -> str:
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
    if security is not None:
        lines |= _secured_properties(port, controller_port, security)
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def _secured_properties(
    port: int, controller_port: int, security: BrokerSecurity
) -> dict[str, str]:
    """Clients: one SASL_SSL listener (TLS, then SCRAM-SHA-512), which is also the inter-broker
    listener. Controller: mutual TLS on loopback (the broker side presents the broker certificate,
    whose CN is a super user), since SCRAM users live in the metadata the controller serves and
    cannot authenticate the controller listener itself. Authorisation: StandardAuthorizer, deny
    whatever no ACL allows (deploy/kafka_acls.py grants the services' ACLs)."""
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": _scram_login(
            ADMIN, security.passwords[ADMIN]
        ),
        "listener.name.controller.ssl.client.auth": "required",
        # Kafka 4 reads PEM directly: the key (PKCS#8) and chain in one file, the CA in another.
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(security.keystore_file),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(security.ca_file),
        "ssl.principal.mapping.rules": "RULE:^.*CN=([^,]+).*$/$1/,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN};User:{BROKER_COMMON_NAME}",
    }


@dataclass
class LocalKafka:
    """A running broker process. Use `start_local_kafka()` to get one and `stop()` to end it."""

    process: subprocess.Popen[bytes]
    bootstrap_servers: str
    run_dir: Path
    own_run_dir: bool
    jvm: list[str]
    security: BrokerSecurity | None = None  # set for a secured broker (start_local_kafka)

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
        self.process = launch_broker(self.jvm, self.run_dir)


async def wait_until_ready(
    bootstrap_servers: str,
    limit_seconds: float = 90.0,
    client_options: dict[str, Any] | None = None,
) -> None:
    """Ready means an admin client's describe-cluster lists a broker, not merely an open port.
    `client_options`: how to connect (a secured broker's `client_options("admin")`)."""
    deadline = time.monotonic() + limit_seconds
    # aiokafka logs every refused connection at error level; while waiting they are expected.
    aiokafka_logger = logging.getLogger("aiokafka")
    previous_level = aiokafka_logger.level
    aiokafka_logger.setLevel(logging.CRITICAL)
    try:
        await _poll_until_ready(bootstrap_servers, deadline, client_options or {})
    finally:
        aiokafka_logger.setLevel(previous_level)


async def _poll_until_ready(
    bootstrap_servers: str, deadline: float, client_options: dict[str, Any]
) -> None:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, request_timeout_ms=5000, **client_options
        )
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
    run_dir: Path | None = None, port: int | None = None, heap: str = "512m", secured: bool = False
) -> LocalKafka:
    """Format a fresh KRaft data folder and start the broker; returns once the JVM is launched.
    `secured`: TLS + SCRAM-SHA-512 + ACL authorisation, with a throwaway CA and a SCRAM user per
    principal of PRINCIPALS (see `_secured_properties`); its `security` says how to connect."""
    own_run_dir = run_dir is None
    run_dir = Path(tempfile.mkdtemp(prefix="kafka-")) if run_dir is None else run_dir
    shutil.rmtree(run_dir / "data", ignore_errors=True)  # a fresh log for every run
    run_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    security = make_broker_security(run_dir / "secrets") if secured else None
    properties = run_dir / "server.properties"
    properties.touch(mode=0o600)  # a secured broker's holds the admin's password
    properties.write_text(_server_properties(run_dir, port, free_port(), security))
    jvm = java_command(heap, run_dir)
    cluster_id = kafka_uuid()
    # SCRAM users are written into the cluster's first metadata at format time (KIP-900), so the
    # broker never has to accept an unauthenticated client to create them.
    users = [
        argument
        for name, password in (security.passwords.items() if security else ())
        for argument in ("--add-scram", f"{SCRAM}=[name={name},password={password}]")
    ]
    # A secured format's stdout lists the SCRAM records (salted keys): not shown then.
    format_storage(
        jvm, properties, cluster_id, ["--standalone", *users], show_stdout=security is None
    )
    return LocalKafka(
        launch_broker(jvm, run_dir), f"127.0.0.1:{port}", run_dir, own_run_dir, jvm, security
    )


def java_command(heap: str, log_dir: Path) -> list[str]:
    """The JVM that runs Kafka's main classes: the cached jars (fetched on first use), a fixed
    heap, and log4j writing `server.log` into `log_dir`."""
    libs = fetch_jars()
    if shutil.which("java") is None:
        raise BrokerError("Java 17+ is needed to run the local Kafka broker")
    classpath = os.pathsep.join(str(jar) for jar in sorted(libs.glob("*.jar")))
    return [
        "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}", f"-Dkafka.logs.dir={log_dir}",
        "-cp", classpath,
    ]  # fmt: skip


def format_storage(
    jvm: list[str],
    properties: Path,
    cluster_id: str,
    options: list[str],
    show_stdout: bool = True,
) -> None:
    """Format a node's KRaft log folders (Kafka's StorageTool) for the cluster `cluster_id`."""
    formatted = subprocess.run(
        [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties),
         *options],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if formatted.returncode != 0:
        shown = formatted.stdout + formatted.stderr if show_stdout else formatted.stderr
        raise BrokerError(f"formatting Kafka storage failed:\n{shown}")


def launch_broker(jvm: list[str], run_dir: Path) -> subprocess.Popen[bytes]:
    """Start `kafka.Kafka` on `run_dir/server.properties`, its output appended to stdout.log."""
    with (run_dir / "stdout.log").open("ab") as log:
        return subprocess.Popen(
            [*jvm, "kafka.Kafka", str(run_dir / "server.properties")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops the broker last
            preexec_fn=die_with_parent(),
        )


def kafka_uuid() -> str:
    """Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. Like Kafka's
    own Uuid.randomUuid, refuse one starting with "-": the storage tool would read it as a flag."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


async def start_and_wait(
    run_dir: Path | None = None, port: int | None = None, secured: bool = False
) -> LocalKafka:
    broker = start_local_kafka(run_dir, port, secured=secured)
    options = broker.security.client_options(ADMIN) if broker.security else None
    try:
        await wait_until_ready(broker.bootstrap_servers, client_options=options)
    except BaseException:
        broker.stop()
        raise
    if broker.process.poll() is not None:
        raise BrokerError(f"Kafka exited with {broker.process.returncode}; see {broker.run_dir}")
    return broker


def main() -> None:
    """`python -m deploy.kafka_broker fetch` downloads the jars; `run [port]` starts a plaintext
    broker until Ctrl-C; `run-secured [port]` a secured one, with the topics and the services' ACLs,
    and writes each principal's settings to `<run folder>/secrets/<principal>.env`."""
    import sys

    command = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    if command == "fetch":
        print(f"Kafka {KAFKA_VERSION} jars: {fetch_jars()}")
        return
    if command in ("run", "run-secured"):
        secured = command == "run-secured"

        async def serve() -> None:
            port = int(sys.argv[2]) if len(sys.argv) > 2 else None
            broker = await start_and_wait(port=port, secured=secured)
            try:
                if broker.security is not None:
                    await _prepare_secured(broker, broker.security)
                print(f"Kafka ready at {broker.bootstrap_servers}; Ctrl-C to stop", flush=True)
                await asyncio.Event().wait()
            finally:
                broker.stop()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
        return
    raise SystemExit(f"unknown command {command!r}: use fetch, run or run-secured")


async def _prepare_secured(broker: LocalKafka, security: BrokerSecurity) -> None:
    from deploy.kafka_acls import grant_service_acls  # it imports this module
    from shared.kafka import ensure_topics

    await ensure_topics(broker.bootstrap_servers, security=security.faststream(ADMIN))
    await grant_service_acls(broker)
    folder = security.admin_config.parent
    for principal in PRINCIPALS:
        env_file = folder / f"{principal}.env"
        env_file.touch(mode=0o600)
        env = security.service_env(principal) | {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers
        }
        env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    print(f"topics created, ACLs granted; each principal's settings: {folder}/<principal>.env")


if __name__ == "__main__":
    main()
