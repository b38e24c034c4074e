"""The Kafka ACLs each principal needs, in one table, and applying them with Kafka's own AclCommand.

Every read and write a service does, and nothing else: the topics its subscribers read (with their
consumer groups) and its publishers write, which are also the only topics it checks at start
(`shared.kafka.used_topics`). tests/unit/test_kafka_acl_table.py compares this table with the
services' code; tests/security/test_kafka_acls.py proves it on a secured broker.

How: aiokafka 0.14's admin client has no create_acls, so deploy/kafka/GrantAcls.java hands the
whole table to Kafka's own Admin client (the API kafka-acls.sh calls) in one short JVM, with the
broker's jars. One AclCommand JVM per grant took about 4 s each.

    python -m deploy.kafka_acls --bootstrap-server broker:9093 --command-config admin.properties
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deploy.kafka_broker import DEPLOY_DIR, BrokerError, LocalKafka, fetch_jars
from shared.topics import AGENDA, ALERTS, DEAD_LETTERS, POLICE_CONTACTS, REFERRALS, TASKS

# Read and Write each imply Describe; it is named anyway so that `--list` shows what is meant.
READ = ("Read", "Describe")
WRITE = ("Write", "Describe")
SERVICES = ("intake", "notifier", "casework", "meeting_scheduler")
GRANT_ACLS = DEPLOY_DIR / "kafka" / "GrantAcls.java"


@dataclass(frozen=True)
class Grant:
    """Allow `operations` to `principals` on every one of `topics` and consumer `groups`
    (topic names without the deployment's prefix; group ids are never prefixed)."""

    principals: tuple[str, ...]
    operations: tuple[str, ...]
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


SERVICE_GRANTS: tuple[Grant, ...] = (
    Grant(("police-intake",), WRITE, (POLICE_CONTACTS.name,)),
    Grant(("intake",), READ, (POLICE_CONTACTS.name,), ("intake",)),
    # And the ingress topic: intake writes its own heartbeats there, so they take a contact's path
    # (services/intake/heartbeat.py). Its decoder accepts from it only intake-signed heartbeats.
    Grant(("intake",), WRITE, (REFERRALS.name, POLICE_CONTACTS.name)),
    Grant(
        ("notifier",),
        READ,
        (REFERRALS.name, TASKS.name, AGENDA.name),
        ("notifier", "notifier.tasks", "notifier.agenda"),
    ),
    Grant(("notifier",), WRITE, (ALERTS.name,)),
    Grant(("casework",), READ, (REFERRALS.name, ALERTS.name), ("casework", "casework.alerts")),
    Grant(("casework",), WRITE, (TASKS.name,)),
    Grant(
        ("meeting_scheduler",),
        READ,
        (REFERRALS.name, TASKS.name, ALERTS.name),
        ("meeting_scheduler", "meeting_scheduler.tasks", "meeting_scheduler.alerts"),
    ),
    Grant(("meeting_scheduler",), WRITE, (AGENDA.name,)),
    # What a consumer gives up on goes to the dead-letter topic, from every service that consumes.
    Grant(SERVICES, WRITE, (DEAD_LETTERS.name,)),
)

# `python -m deploy.deadletters` (the `operator` principal): read the dead letters and the records
# they name, and write a record back to its own topic to replay it. It joins no consumer group and
# holds no signing key, so this Write opens nothing: a consumer acts on a replayed copy only when
# its own signed dead letter vouches for those exact bytes (shared/replay.py). The one principal
# besides intake that may read the ingress topic (to check a dead-lettered contact's SHA-256).
SOURCE_TOPICS = (POLICE_CONTACTS.name, REFERRALS.name, ALERTS.name, TASKS.name, AGENDA.name)
OPERATOR_GRANTS: tuple[Grant, ...] = (
    Grant(("operator",), READ, (DEAD_LETTERS.name, *SOURCE_TOPICS)),
    Grant(("operator",), WRITE, SOURCE_TOPICS),
)


def permissions(
    grants: Iterable[Grant] = SERVICE_GRANTS,
) -> dict[str, dict[tuple[str, str], set[str]]]:
    """principal → (resource type, name) → operations: the table flattened, for comparisons."""
    table: dict[str, dict[tuple[str, str], set[str]]] = {}
    for grant in grants:
        resources = [("topic", name) for name in grant.topics]
        resources += [("group", name) for name in grant.groups]
        for principal in grant.principals:
            for resource in resources:
                table.setdefault(principal, {}).setdefault(resource, set()).update(grant.operations)
    return table


def acl_lines(grants: Iterable[Grant] = SERVICE_GRANTS, prefix: str = "") -> list[str]:
    """GrantAcls.java's input: one `TYPE NAME User:PRINCIPAL OPERATION` line per ACL entry."""
    return [
        f"{kind.upper()} {name if kind == 'group' else prefix + name} User:{principal} "
        f"{operation.upper()}"
        for principal, resources in permissions(grants).items()
        for (kind, name), operations in sorted(resources.items())
        for operation in sorted(operations)
    ]


async def apply_grants(
    bootstrap_servers: str,
    client_config: Path,
    prefix: str = "",
    grants: Iterable[Grant] = SERVICE_GRANTS,
) -> None:
    """Add every grant in one batch (adding an existing ACL changes nothing). `client_config`:
    the admin client's properties (SASL_SSL, its SCRAM login, the CA), as for kafka-acls.sh."""
    classpath = os.pathsep.join(str(jar) for jar in sorted(fetch_jars().glob("*.jar")))
    process = await asyncio.create_subprocess_exec(
        # A short-lived client: the quick JIT tier and a small heap start it fastest.
        "java", "-Xmx128m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath,
        str(GRANT_ACLS), bootstrap_servers, str(client_config),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate("\n".join(acl_lines(grants, prefix)).encode())
    if process.returncode != 0:
        raise BrokerError(f"granting ACLs failed:\n{output.decode()[-3000:]}")


async def grant_service_acls(broker: LocalKafka, prefix: str = "") -> None:
    """The services' ACLs on a secured local broker (`start_and_wait(secured=True)`)."""
    if broker.security is None:
        raise BrokerError("the broker is not secured: it has no authorizer to give ACLs to")
    await apply_grants(broker.bootstrap_servers, broker.security.admin_config, prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--command-config", type=Path, required=True,
                        help="the admin client's properties (SASL_SSL, its SCRAM login, the CA)")  # fmt: skip
    parser.add_argument("--prefix", default=os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    options = parser.parse_args()
    grants = SERVICE_GRANTS + OPERATOR_GRANTS
    asyncio.run(
        apply_grants(options.bootstrap_server, options.command_config, options.prefix, grants)
    )
    print(f"ACLs granted: {len(grants)} grants on {options.bootstrap_server}")


if __name__ == "__main__":
    main()
