"""The ACL table (deploy/kafka_acls.py) grants each service what its code reads and writes, and
nothing else: read from the subscribers and publishers each service's composition root builds."""

from __future__ import annotations

from pathlib import Path

from faststream.kafka.publisher.usecase import LogicPublisher
from faststream.kafka.subscriber.usecase import LogicSubscriber

from deploy.kafka_acls import READ, SERVICE_GRANTS, WRITE, acl_lines, permissions
from shared.topics import ALL_TOPICS, POLICE_CONTACTS, with_ingress_retention
from tests.support import system


def needed_by_code(tmp_path: Path) -> dict[str, dict[tuple[str, str], set[str]]]:
    needed: dict[str, dict[tuple[str, str], set[str]]] = {}
    for name, build in system.BUILDERS.items():
        app = build("127.0.0.1:9", "", f"sqlite+aiosqlite:///{tmp_path / name}.sqlite3")
        mine = needed.setdefault(name, {})
        for subscriber in app.kafka_broker.subscribers:
            assert isinstance(subscriber, LogicSubscriber)
            assert subscriber.group_id, f"{name} has a subscriber without a consumer group"
            for topic in subscriber.topic_names_for_subscribe:
                mine.setdefault(("topic", topic), set()).update(READ)
            mine.setdefault(("group", subscriber.group_id), set()).update(READ)
        for publisher in app.kafka_broker.publishers:
            assert isinstance(publisher, LogicPublisher)
            mine.setdefault(("topic", publisher.topic), set()).update(WRITE)
    return needed


def test_each_service_is_granted_exactly_what_its_code_uses(tmp_path: Path) -> None:
    granted = permissions(SERVICE_GRANTS)
    needed = needed_by_code(tmp_path)
    for service, resources in needed.items():
        assert granted[service] == resources, service
    assert granted["police-intake"] == {("topic", POLICE_CONTACTS.name): set(WRITE)}
    assert set(granted) == {*needed, "police-intake"}  # and no other principal


def test_only_intake_reads_the_ingress_topic() -> None:
    readers = {
        principal
        for principal, resources in permissions().items()
        if "Read" in resources.get(("topic", POLICE_CONTACTS.name), set())
    }
    assert readers == {"intake"}


def test_acl_lines_prefix_topics_not_groups() -> None:
    lines = acl_lines(prefix="t1.")
    assert "TOPIC t1.police.contacts.v1 User:intake READ" in lines
    assert "GROUP intake User:intake READ" in lines
    assert not any(line.startswith("GROUP t1.") for line in lines)


def test_topic_configs_ask_for_two_in_sync_replicas_when_there_are_three() -> None:
    for spec in ALL_TOPICS:
        assert spec.configs(3)["min.insync.replicas"] == "2"
        assert spec.configs(1)["min.insync.replicas"] == "1"
        stamped = {"message.timestamp.type"} if spec is POLICE_CONTACTS else set()
        assert set(spec.configs(3)) == {"retention.ms", "min.insync.replicas"} | stamped


def test_only_the_ingress_topic_is_stamped_by_the_broker() -> None:
    assert POLICE_CONTACTS.configs(1)["message.timestamp.type"] == "LogAppendTime"


def test_ingress_retention_is_a_day_unless_configured() -> None:
    assert POLICE_CONTACTS.retention_ms == 24 * 60 * 60 * 1000
    (ingress, *others) = with_ingress_retention(6)
    assert ingress.name == POLICE_CONTACTS.name
    assert ingress.retention_ms == 6 * 60 * 60 * 1000
    assert tuple(others) == ALL_TOPICS[1:]
