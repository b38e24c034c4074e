"""Session-wide real infrastructure: one Kafka broker and one PostgreSQL cluster for the whole run.
Tests isolate themselves with a unique topic prefix and their own databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from deploy.kafka_broker import KAFKA_VERSION, start_and_wait
from deploy.keycloak import KEYCLOAK_VERSION, LocalKeycloak
from deploy.keycloak import start_and_wait as start_keycloak
from shared.kafka import ensure_topics
from shared.startup_heap import keep_heap_unfrozen
from tests.support.databases import DatabaseUrls
from tests.support.postgres import Cluster, start_cluster

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONTACT = ROOT / "docs" / "examples" / "police-contact.v1.json"


# What real infrastructure this run used, printed at the end so a reader of CI's log can see it.
USED: dict[str, str] = {}


# What each fault scenario printed (its counts), repeated at the end of the run so CI's log shows
# them without -s.
FAULT_FIGURES: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    # This process starts many apps in turn; each service process freezes its own heap once
    # started (shared/startup_heap.py, tested in a process of its own).
    keep_heap_unfrozen()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    suite = next((s for s in ("tests/fault/", "tests/cluster/") if report.nodeid.startswith(s)), "")
    if report.when == "call" and report.passed and suite:
        lines = [line for line in report.capstdout.splitlines() if line.strip()]
        if lines:
            FAULT_FIGURES.append(report.nodeid.removeprefix(suite))
            FAULT_FIGURES.extend(f"    {line}" for line in lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FAULT_FIGURES:
        terminalreporter.section("fault suite figures")
        for line in FAULT_FIGURES:
            terminalreporter.write_line(line)
    for part, description in sorted(USED.items()):
        terminalreporter.write_line(f"real infrastructure used: {part}: {description}")


@pytest.fixture(scope="session")
async def kafka_bootstrap() -> AsyncIterator[str]:
    """The real broker: KAFKA_BOOTSTRAP_SERVERS if set, else one the project starts itself."""
    if existing := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        USED["kafka"] = f"existing cluster at {existing}"
        yield existing
        return
    broker = await start_and_wait()
    USED["kafka"] = (
        f"Apache Kafka {KAFKA_VERSION} broker (KRaft) started at {broker.bootstrap_servers}"
    )
    try:
        yield broker.bootstrap_servers
    finally:
        # The session's broker and its data are thrown away, so kill -9 it: a clean shutdown
        # would close and checkpoint every partition the run created (every test's topics),
        # which took 26 s with 1800 topics. stop() then only deletes its folder.
        broker.kill()
        broker.stop()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[LocalKeycloak]:
    """A real OpenID provider: Keycloak with deploy/keycloak/safeguarding-realm.json, started once
    per session, and only if a test asks for it (it takes ~16 s or more and ~470 MB)."""
    keycloak = start_keycloak()
    USED["openid provider"] = (
        f"Keycloak {KEYCLOAK_VERSION} started at {keycloak.issuer} "
        f"(ready in {keycloak.ready_seconds or 0:.1f} s)"
    )
    try:
        yield keycloak
    finally:
        keycloak.stop()


@pytest.fixture
async def topic_prefix(kafka_bootstrap: str) -> str:
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(kafka_bootstrap, prefix)
    return prefix


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    USED["postgresql"] = cluster.describe()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def database_urls(
    database_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> DatabaseUrls:
    cluster = request.getfixturevalue("postgres_cluster") if database_kind == "postgresql" else None
    return DatabaseUrls(database_kind, tmp_path, cluster)


@pytest.fixture
def example_contact() -> bytes:
    return EXAMPLE_CONTACT.read_bytes()
