"""deploy/k8s/ cannot be applied here (no cluster), so check it statically: every manifest against
the Kubernetes OpenAPI schema (kubernetes-validate's bundled schemas, strict: an unknown field
fails) and the Strimzi resources against Strimzi's own CRD schemas (tests/unit/strimzi/); the
topics and ACLs against shared/topics.py and deploy/kafka_acls.py; and what a Deployment needs."""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices

from deploy import k8s_manifests
from deploy.kafka_acls import OPERATOR_GRANTS, SERVICE_GRANTS, permissions
from services.console.settings import ConsoleSettings
from shared.settings import ServiceSettings
from shared.topics import ALL_TOPICS
from tests.unit.test_compose import SERVICES, compose

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
CRDS = Path(__file__).parent / "strimzi"
KUBERNETES_VERSION = "1.33"  # a release still in upstream support
# compose service → Deployment name (a Kubernetes name cannot hold `_`)
DEPLOYMENTS = {name: name.replace("_", "-") for name in [*SERVICES, "console"]}
SETTINGS: dict[str, type[ServiceSettings] | type[ConsoleSettings]] = {
    name: settings for name, (_, settings) in SERVICES.items()
} | {"console": ConsoleSettings}
ROTA_CHANNEL = re.compile(r"^[A-Z_]+_(ALERT|SMS|VOICE)_URL$")  # apprise URLs carry credentials
RUNTIME_ONLY = {"MPLCONFIGDIR"}  # matplotlib's cache, under the writable /tmp


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@functools.cache
def manifests() -> list[tuple[str, dict[str, Any]]]:
    """Read once per run: callers that change a document change a deep copy."""
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in documents(path)
    ]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def test_every_kubernetes_manifest_passes_the_api_schema_strictly() -> None:
    checked = 0
    for filename, doc in manifests():
        if doc["apiVersion"].startswith("kafka.strimzi.io/"):
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(
                f"{filename} {doc['kind']}/{doc['metadata']['name']}: {path}: {error.message}"
            )
        checked += 1
    assert checked >= 20


def test_the_schema_check_can_fail() -> None:
    deployment = copy.deepcopy(of_kind("Deployment")["intake"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema, refusing what it does not name: the API server would silently prune an
    unknown (mistyped) field, so here it fails instead."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            closable = "properties" in node and "additionalProperties" not in node
            if closable and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind:
            for served in crd["spec"]["versions"]:
                if served["name"] == version and served["served"]:
                    return strict(served["schema"]["openAPIV3Schema"])
    raise AssertionError(f"no served {api_version} {kind} in {CRDS}")


def test_strimzi_resources_pass_strimzis_crd_schemas() -> None:
    strimzi = [doc for _, doc in manifests() if doc["apiVersion"].startswith("kafka.strimzi.io/")]
    assert {doc["kind"] for doc in strimzi} == {"KafkaTopic", "KafkaUser"}
    for doc in strimzi:
        schema = crd_schema(doc["apiVersion"], doc["kind"])
        jsonschema.validate(doc, schema)
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == k8s_manifests.KAFKA_CLUSTER
    user = copy.deepcopy(of_kind("KafkaUser")["intake"])
    user["spec"]["authorization"]["acls"][0]["operation"] = "Read"  # v1beta2's, gone in v1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(user, crd_schema(user["apiVersion"], "KafkaUser"))


def test_generated_files_are_up_to_date() -> None:
    for path, text in k8s_manifests.outputs().items():
        assert path.read_text() == text, f"run python -m deploy.k8s_manifests ({path.name})"


def test_kafka_topics_are_every_topic_of_shared_topics() -> None:
    topics = of_kind("KafkaTopic")
    assert set(topics) == {spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        topic = topics[spec.name]["spec"]
        assert topic["partitions"] == spec.partitions
        assert topic["replicas"] == 3
        assert topic["config"]["retention.ms"] == str(spec.retention_ms)
        assert topic["config"]["min.insync.replicas"] == "2"  # acks=all survives a broker's loss
        assert (topic["config"].get("message.timestamp.type") == "LogAppendTime") == (
            spec.broker_timestamps
        )
        assert set(topic["config"]) <= {
            "retention.ms",
            "min.insync.replicas",
            "message.timestamp.type",
        }


def test_kafka_users_grant_exactly_the_acl_table() -> None:
    users = of_kind("KafkaUser")
    granted: dict[str, dict[tuple[str, str], set[str]]] = {}
    for name, user in users.items():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl.get("type", "allow") == "allow"
            assert acl["resource"].get("patternType", "literal") == "literal"
            resource = (acl["resource"]["type"], acl["resource"]["name"])
            granted.setdefault(name, {}).setdefault(resource, set()).update(acl["operations"])
    table = permissions(SERVICE_GRANTS + OPERATOR_GRANTS)
    assert granted == {principal.replace("_", "-"): rules for principal, rules in table.items()}


def test_compose_acl_list_grants_exactly_the_acl_table() -> None:
    granted: dict[str, dict[tuple[str, str], set[str]]] = {}
    text = (ROOT / "deploy" / "kafka" / "compose-acls.txt").read_text()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        principal, operations, *resources = line.split()
        for resource in resources:
            kind, name = resource.split(":", 1)
            granted.setdefault(principal, {}).setdefault((kind, name), set()).update(
                operations.split(",")
            )
    assert granted == permissions(SERVICE_GRANTS + OPERATOR_GRANTS)


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def mebibytes(quantity: str) -> int:
    assert quantity.endswith("Mi"), quantity
    return int(quantity[:-2])


def test_every_deployment_is_probed_sized_locked_down_and_kept_available() -> None:
    deployments, services, budgets = (
        of_kind("Deployment"),
        of_kind("Service"),
        of_kind("PodDisruptionBudget"),
    )
    assert set(deployments) == set(DEPLOYMENTS.values())
    for compose_name, name in DEPLOYMENTS.items():
        deployment = deployments[name]
        pod = deployment["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        container = container_of(deployment)
        assert container["command"] == compose()["services"][compose_name]["command"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"http": 8000}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        assert {"cpu", "memory"} <= requests.keys()
        assert {"cpu", "memory"} <= limits.keys()
        assert mebibytes(limits["memory"]) >= 2 * mebibytes(requests["memory"])
        security = container["securityContext"]
        assert security["runAsNonRoot"]
        assert security["readOnlyRootFilesystem"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert pod["spec"]["securityContext"]["runAsUser"] == 10001  # deploy/Dockerfile's user
        writable = {
            mount["mountPath"] for mount in container["volumeMounts"] if not mount.get("readOnly")
        }
        assert writable == {"/tmp"}  # apprise's and matplotlib's temporary files
        service = services[name]
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
        if compose_name == "console":  # sessions in its own memory: one instance (README)
            assert deployment["spec"]["replicas"] == 1
            assert name not in budgets
            continue
        assert deployment["spec"]["replicas"] == 2
        budget = budgets[name]["spec"]
        assert budget["minAvailable"] == 1
        assert budget["selector"]["matchLabels"].items() <= labels.items()


def test_memory_requests_cover_the_measured_peak_rss() -> None:
    """The benchmark's peak RSS per service (docs/performance/): a request below it would let the
    scheduler pack pods onto a node that cannot hold them."""
    report = json.loads((ROOT / "docs" / "performance" / "2026-11-28-after.json").read_text())
    peaks = {name: figures["peak_rss_mb"] for name, figures in report["memory"].items()}
    assert set(peaks) == set(SERVICES)
    deployments = of_kind("Deployment")
    for name, peak_mb in peaks.items():
        requests = container_of(deployments[DEPLOYMENTS[name]])["resources"]["requests"]
        request_mb = mebibytes(requests["memory"]) * 1.048576
        print(f"{name}: peak RSS {peak_mb} MB, request {requests['memory']}")
        assert request_mb >= 1.2 * peak_mb, name


def environment_of(deployment: dict[str, Any]) -> dict[str, str]:
    """Each variable the container gets → where from: `configmap`, `secret` or `value`."""
    config_maps, secrets = of_kind("ConfigMap"), of_kind("Secret")
    container = container_of(deployment)
    sources: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            sources |= dict.fromkeys(
                config_maps[source["configMapRef"]["name"]]["data"], "configmap"
            )
        else:
            sources |= dict.fromkeys(secrets[source["secretRef"]["name"]]["stringData"], "secret")
    for variable in container.get("env", []):
        if "valueFrom" in variable:
            sources[variable["name"]] = "secret" if "secretKeyRef" in variable["valueFrom"] else "?"
        else:
            sources[variable["name"]] = "value"
    return sources


def secret_variables(settings: type[ServiceSettings] | type[ConsoleSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in settings.model_fields.items():
        if "SecretStr" not in str(field.annotation):
            continue
        if isinstance(field.validation_alias, AliasChoices):
            names |= {c for c in field.validation_alias.choices if isinstance(c, str)}
        else:
            names.add(prefix + field_name.upper())
    return names


def test_each_deployment_gets_what_the_compose_file_gives_secrets_from_secrets() -> None:
    deployments = of_kind("Deployment")
    for compose_name, name in DEPLOYMENTS.items():
        sources = environment_of(deployments[name])
        wanted = set(compose()["services"][compose_name]["environment"])
        assert wanted <= sources.keys(), f"{name} lacks {wanted - sources.keys()}"
        assert sources.keys() - wanted <= RUNTIME_ONLY, f"{name}: {sources.keys() - wanted}"
        secret = secret_variables(SETTINGS[compose_name]) | {
            variable for variable in sources if variable.endswith("_DATABASE_URL") or ROTA_CHANNEL.match(variable)
        }  # fmt: skip
        for variable in secret & sources.keys():
            assert sources[variable] == "secret", f"{name}: {variable} is a secret"
        for config_map in of_kind("ConfigMap").values():  # not even one that a Secret overrides
            assert not secret & config_map["data"].keys(), config_map["metadata"]["name"]
        if compose_name != "console":
            kafka_user = deployments[name]["spec"]["template"]["spec"]["containers"][0]
            password = next(v for v in kafka_user["env"] if v["name"] == "KAFKA_PASSWORD")
            username = environment_of_value(name, "KAFKA_USERNAME")
            assert password["valueFrom"]["secretKeyRef"] == {"name": username, "key": "password"}
            assert username in of_kind("KafkaUser")


def environment_of_value(deployment: str, variable: str) -> str:
    value: str = of_kind("ConfigMap")[f"{deployment}-config"]["data"][variable]
    return value


def test_no_secret_holds_anything_but_a_placeholder() -> None:
    secrets = of_kind("Secret")
    assert secrets, "the Secret templates are missing"
    for name, secret in secrets.items():
        assert "data" not in secret, name
        for key, value in secret["stringData"].items():
            assert value.startswith("REPLACE-"), f"{name}.{key} holds a value"
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert "secrets.example.yaml" not in listed  # placeholders are never applied
    present = {path.name for path in K8S.glob("*.yaml")} - {
        "kustomization.yaml",
        "secrets.example.yaml",
    }
    assert set(listed) == present
