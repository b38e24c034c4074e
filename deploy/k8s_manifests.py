"""Write the Kafka resources of the deployment descriptions from the system's own tables, so that
they are never retyped: Strimzi KafkaTopic resources from shared/topics.py and KafkaUser resources
(SCRAM-SHA-512 logins with their ACLs) from deploy/kafka_acls.py, for deploy/k8s/; and the ACL list
that docker-compose.cluster.yml's kafka-acls step applies (deploy/kafka/compose-acls.txt).

    python -m deploy.k8s_manifests           # rewrite the three files
    python -m deploy.k8s_manifests --check   # exit 1 if one is out of date

tests/unit/test_k8s_manifests.py checks the files against the tables and the schemas.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from deploy.kafka_acls import OPERATOR_GRANTS, SERVICE_GRANTS, Grant, permissions
from shared.topics import ALL_TOPICS, TopicSpec

ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = ROOT / "deploy" / "k8s"
# The Strimzi `Kafka` resource the topics and users belong to (rename with a kustomize patch).
KAFKA_CLUSTER = "safeguarding"
# kafka.strimzi.io/v1: served by Strimzi 0.49 and later; Strimzi 1.0 removed v1beta2.
STRIMZI_API = "kafka.strimzi.io/v1"
REPLICATION_FACTOR = 3
GRANTS: tuple[Grant, ...] = SERVICE_GRANTS + OPERATOR_GRANTS
HEADER = "# Written by `python -m deploy.k8s_manifests` from {source}: do not edit by hand.\n"


def user_name(principal: str) -> str:
    """A Kubernetes name cannot hold `_`, and a KafkaUser's name is its Kafka principal: so the
    meeting scheduler logs in as `meeting-scheduler` on Kubernetes (its ACLs follow)."""
    return principal.replace("_", "-")


def kafka_topic(spec: TopicSpec) -> dict[str, Any]:
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaTopic",
        "metadata": {"name": spec.name, "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
        "spec": {
            "partitions": spec.partitions,
            "replicas": REPLICATION_FACTOR,
            "config": spec.configs(REPLICATION_FACTOR),
        },
    }


def kafka_user(principal: str, resources: dict[tuple[str, str], set[str]]) -> dict[str, Any]:
    acls = [
        {
            "type": "allow",
            "resource": {"type": kind, "name": name, "patternType": "literal"},
            "operations": sorted(operations),
            "host": "*",
        }
        for (kind, name), operations in sorted(resources.items())
    ]
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaUser",
        "metadata": {"name": user_name(principal), "labels": {"strimzi.io/cluster": KAFKA_CLUSTER}},
        "spec": {
            # The User Operator generates the password into a Secret of the user's name (key
            # `password`), which the service's Deployment reads as KAFKA_PASSWORD.
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def dump_all(documents: list[dict[str, Any]], source: str) -> str:
    body = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)
    return HEADER.format(source=source) + body


def topics_yaml() -> str:
    return dump_all([kafka_topic(spec) for spec in ALL_TOPICS], "shared/topics.py")


def users_yaml() -> str:
    table = permissions(GRANTS)
    return dump_all(
        [kafka_user(principal, table[principal]) for principal in sorted(table)],
        "deploy/kafka_acls.py",
    )


def compose_acls_text() -> str:
    """One kafka-acls.sh call per grant and principal (deploy/kafka/compose-acls.sh reads it)."""
    lines = [
        f"{principal} {','.join(grant.operations)} "
        + " ".join(
            [f"topic:{name}" for name in grant.topics] + [f"group:{g}" for g in grant.groups]
        )
        for grant in GRANTS
        for principal in grant.principals
    ]
    return HEADER.format(source="deploy/kafka_acls.py") + "\n".join(lines) + "\n"


def outputs() -> dict[Path, str]:
    return {
        K8S_DIR / "kafka-topics.yaml": topics_yaml(),
        K8S_DIR / "kafka-users.yaml": users_yaml(),
        ROOT / "deploy" / "kafka" / "compose-acls.txt": compose_acls_text(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    options = parser.parse_args()
    stale = [
        path for path, text in outputs().items() if not path.exists() or path.read_text() != text
    ]
    if options.check:
        for path in stale:
            print(f"out of date: {path.relative_to(ROOT)}")
        sys.exit(1 if stale else 0)
    for path in stale:
        path.write_text(outputs()[path])
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
