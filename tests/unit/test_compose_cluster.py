"""docker-compose.cluster.yml (three brokers, two instances of each service) cannot run here (no
Docker engine), so check it statically, with its broker script deploy/kafka/compose-node.sh."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from deploy.kafka_acls import OPERATOR_GRANTS, SERVICE_GRANTS, permissions
from deploy.kafka_broker import KAFKA_VERSION
from tests.unit.test_compose import REFERENCE, SERVICES, compose

ROOT = Path(__file__).resolve().parents[2]
BROKERS = ("kafka-1", "kafka-2", "kafka-3")
NODE_SCRIPT = ROOT / "deploy" / "kafka" / "compose-node.sh"


class ComposeLoader(yaml.SafeLoader):
    """Compose's merge tags (`!override`, `!reset`) read as the value they carry."""


def _sequence(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    assert isinstance(node, yaml.SequenceNode)
    return loader.construct_sequence(node)


ComposeLoader.add_constructor("!override", _sequence)
ComposeLoader.add_constructor("!reset", lambda loader, node: [])


def cluster() -> dict[str, Any]:
    text = (ROOT / "docker-compose.cluster.yml").read_text()
    loaded: dict[str, Any] = yaml.load(text, Loader=ComposeLoader)  # a SafeLoader
    return loaded


def node_properties() -> dict[str, str]:
    script = NODE_SCRIPT.read_text()
    body = script.split("<<PROPERTIES\n", 1)[1].split("\nPROPERTIES\n", 1)[0]
    pairs = (line.split("=", 1) for line in body.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_three_brokers_form_one_quorum_with_replication_factor_three() -> None:
    services = cluster()["services"]
    node_ids = set()
    for broker in BROKERS:
        node = services[broker]
        assert node["image"] == f"apache/kafka:{KAFKA_VERSION}"
        assert node["command"] == ["bash", "/opt/safeguarding/compose-node.sh"]
        node_ids.add(node["environment"]["KAFKA_NODE_ID"])
        assert any(volume.endswith(":/var/lib/kafka/data") for volume in node["volumes"])
    assert node_ids == {"1", "2", "3"}
    properties = node_properties()
    voters = properties["controller.quorum.voters"].split(",")
    assert voters == [f"{n}@{broker}:9094" for n, broker in enumerate(BROKERS, 1)]
    assert properties["advertised.listeners"] == "SASL_SSL://kafka-${KAFKA_NODE_ID}:9093"
    assert properties["default.replication.factor"] == "3"
    assert properties["min.insync.replicas"] == "2"
    assert properties["offsets.topic.replication.factor"] == "3"
    assert properties["transaction.state.log.min.isr"] == "2"
    assert properties["auto.create.topics.enable"] == "false"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert "PLAINTEXT" not in properties["listener.security.protocol.map"]


def test_every_principal_of_the_acl_table_gets_a_scram_login() -> None:
    script = NODE_SCRIPT.read_text()
    users = set(re.findall(r'"([a-z_-]+):\$\{[A-Z_]+_KAFKA_PASSWORD:\?\}"', script))
    assert users == set(permissions(SERVICE_GRANTS + OPERATOR_GRANTS))
    env = cluster()["services"]["kafka-1"]["environment"]
    for variable in re.findall(r"\$\{([A-Z_]+_KAFKA_PASSWORD):\?\}", script):
        assert variable in env, variable


def test_every_service_runs_twice_against_all_three_brokers_on_postgresql() -> None:
    services = cluster()["services"]
    base = compose()["services"]
    used_ports: set[int] = set()
    for name, (_, settings) in SERVICES.items():
        service = services[name]
        assert service["deploy"]["replicas"] == 2
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"].split(",") == [
            f"{broker}:9093" for broker in BROKERS
        ]
        prefix = settings.model_config.get("env_prefix", "")
        # docker-compose.yml gives the database; the override keeps it (SQLite is one process's).
        assert f"{prefix}DATABASE_URL" not in service["environment"]
        assert base[name]["environment"][f"{prefix}DATABASE_URL"].startswith(
            "postgresql+asyncpg://"
        )
        assert service["depends_on"]["kafka-acls"]["condition"] == "service_completed_successfully"
        (mapping,) = service["ports"]
        first, last = map(int, mapping.split(":")[0].split("-"))
        ports = set(range(first, last + 1))
        assert len(ports) == 2, name  # one host port per instance
        assert not ports & used_ports, name
        used_ports |= ports
    assert "replicas" not in services.get("console", {}).get("deploy", {})  # sessions in memory
    init = services["kafka-init"]
    assert (
        init["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
        == services["intake"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"]
    )
    assert all(init["depends_on"][broker]["condition"] == "service_healthy" for broker in BROKERS)
    assert (
        services["kafka-acls"]["depends_on"]["kafka-init"]["condition"]
        == "service_completed_successfully"
    )


def test_the_example_env_file_names_every_variable_the_cluster_file_needs() -> None:
    text = "\n".join(
        line for line in (ROOT / "docker-compose.cluster.yml").read_text().splitlines()
        if not line.lstrip().startswith("#")
    )  # fmt: skip
    needed = {match.group(1) for match in REFERENCE.finditer(text)}
    example = (ROOT / "deploy" / "compose.env.example").read_text()
    named = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and line[0] != "#"
    }
    assert needed <= named, needed - named
    assert {"KAFKA_CLUSTER_ID", "KAFKA_BROKER_KEYSTORE_ON_HOST"} <= needed
