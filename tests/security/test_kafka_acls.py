"""Kafka you can trust, tried for real: one secured broker (TLS, SCRAM-SHA-512, the StandardAuthorizer
with deny by default and deploy/kafka_acls.py's grants), the four services each on its own
credentials, and every door that should stay shut tried with a real client.

Prints a table of what was tried and what happened (shown without -s)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code
from aiokafka.structs import ConsumerRecord

from deploy.kafka_acls import grant_service_acls
from deploy.kafka_broker import ADMIN, BrokerSecurity, LocalKafka, start_and_wait
from deploy.kafka_tls import make_throwaway_tls
from services.casework.main import create_app as create_casework
from services.casework.settings import CaseworkSettings
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.app import ServiceApp
from shared.kafka import PRODUCER_SAFETY, ensure_topics
from shared.topics import AGENDA, ALERTS, ALL_TOPICS, POLICE_CONTACTS, REFERRALS, TASKS
from tests.support import system
from tests.support.signing import police_record_headers
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.security

PARTITIONS = {spec.name: spec.partitions for spec in ALL_TOPICS}
GIVE_UP_SECONDS = 20.0  # a refusal comes in well under a second; no answer at all is a failure


@dataclass
class Tried:
    who: str
    what: str
    expected: str
    outcome: str

    @property
    def as_expected(self) -> bool:
        return self.outcome == self.expected


TRIED: list[Tried] = []


@pytest.fixture(scope="module")
async def secured() -> AsyncIterator[LocalKafka]:
    """One secured broker for the module, with the topics and the services' ACLs."""
    started = time.monotonic()
    broker = await start_and_wait(secured=True)
    try:
        assert broker.security is not None
        ready = time.monotonic()
        await ensure_topics(broker.bootstrap_servers, security=broker.security.faststream(ADMIN))
        topics = time.monotonic()
        await grant_service_acls(broker)
        done = time.monotonic()
        record("admin", f"start the secured broker ({ready - started:.1f} s), create topics "
               f"({topics - ready:.1f} s), grant ACLs ({done - topics:.1f} s)", "ready", "ready")  # fmt: skip
        configs = await topic_configs(broker, POLICE_CONTACTS.name)
        record("admin", f"{POLICE_CONTACTS.name}: retention, min.insync.replicas (1 broker)",
               "24 h, 1", f"{int(configs['retention.ms']) / 3_600_000:g} h, "
               f"{configs['min.insync.replicas']}")  # fmt: skip
        yield broker
    finally:
        broker.stop()


def security_of(broker: LocalKafka) -> BrokerSecurity:
    assert broker.security is not None
    return broker.security


async def attempt(action: Awaitable[str]) -> str:
    """What happened: the action's own word for success, or the error's class name."""
    try:
        return await asyncio.wait_for(action, GIVE_UP_SECONDS)
    except TimeoutError:
        return "no answer (timed out)"
    except Exception as error:
        return type(error).__name__


async def produce(options: dict[str, Any], bootstrap: str, topic: str) -> str:
    # The services' own producer settings: acks=all and idempotence (InitProducerId first).
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, request_timeout_ms=10_000, **PRODUCER_SAFETY, **options
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, b'{"probe": true}', key=b"probe")
        return "written"
    finally:
        await producer.stop()


async def fetch(options: dict[str, Any], bootstrap: str, topic: str) -> str:
    """Read every partition from the start, outside any group: only the topic's ACLs count. Without
    Describe the broker will not even say where the partition is (aiokafka then only logs it, so
    the metadata answer is asked for again, with an admin client as the same principal)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **options,
    )
    try:
        await consumer.start()
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS[topic])])
        batch = await consumer.getmany(timeout_ms=3000)
        records = sum(len(records) for records in batch.values())
        if records:
            return "read"
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    try:
        await admin.start()
        (described,) = await admin.describe_topics([topic])
        code = described["error_code"]
        return for_code(code).__name__ if code else "read nothing"
    finally:
        await admin.close()


async def join_group(options: dict[str, Any], bootstrap: str, topic: str, group: str) -> str:
    """Subscribe to a topic in a consumer group and take part in its assignment."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **options
    )
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=3000)
        return "joined" if consumer.assignment() else "no partitions assigned"
    finally:
        await consumer.stop()


async def create_topic(options: dict[str, Any], bootstrap: str, name: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    try:
        await admin.start()
        response = await admin.create_topics([NewTopic(name, 1, 1)])
        errors = [code for _, code, *_ in response.topic_errors if code]
        return "created" if not errors else f"error code {errors[0]}"
    finally:
        await admin.close()


async def listed_topics(options: dict[str, Any], bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    try:
        await admin.start()
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def read_as_admin(broker: LocalKafka, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **security_of(broker).client_options(ADMIN),
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=1000)
        return [record for records in batch.values() for record in records]
    finally:
        await consumer.stop()


async def topic_configs(broker: LocalKafka, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=broker.bootstrap_servers, **security_of(broker).client_options(ADMIN)
    )
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
        (resource,) = response.to_object()["resources"]
        return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    finally:
        await admin.close()


def failed_authentications(broker: LocalKafka) -> int:
    log = (broker.run_dir / "server.log").read_text(errors="replace")
    return log.count("due to invalid credentials with SASL mechanism SCRAM-SHA-512")


def secured_apps(broker: LocalKafka, folder: Path) -> dict[str, ServiceApp]:
    """The four services in-process, each with its own SCRAM principal and the broker's CA."""
    security = security_of(broker)

    def common(name: str) -> dict[str, Any]:
        database = f"sqlite+aiosqlite:///{folder / name}.sqlite3"
        return system.common(broker.bootstrap_servers, "", database) | security.service_env(name)

    return {
        "intake": create_intake(IntakeSettings(**common("intake"), **system.TEST_SETTINGS_INTAKE)),
        "notifier": create_notifier(
            NotifierSettings(
                **common("notifier"), **system.TEST_SETTINGS_NOTIFIER, dispatch_poll_seconds=0.2
            )
        ),
        "casework": create_casework(
            CaseworkSettings(**common("casework"), **system.TEST_SETTINGS_CASEWORK)
        ),
        "meeting_scheduler": create_scheduler(
            SchedulerSettings(**common("meeting_scheduler"), **system.TEST_SETTINGS_MEETINGS)
        ),
    }


async def test_each_service_on_its_own_credentials_runs_the_pipeline(
    secured: LocalKafka, tmp_path: Path, example_contact: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact written by police-intake to the ingress topic becomes a referral (intake), an
    alert (notifier), tasks (casework) and an agenda item (meeting_scheduler), every hop over
    TLS + SCRAM with the service's own principal. The producers are idempotent with acks=all
    (each service checks its own at start) and no principal holds IdempotentWrite."""
    started = time.monotonic()
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            await system.start(stack, secured_apps(secured, tmp_path))
            record("each service", "start: own topics listed, connect, idempotent producer",
                   "started", "started")  # fmt: skip

            outcome = await attempt(send_contact(secured, example_contact))
            record("police-intake", f"write a contact to {POLICE_CONTACTS.name}", "written",
                   outcome)  # fmt: skip

            for who, topic in (
                ("intake", REFERRALS.name),
                ("notifier", ALERTS.name),
                ("casework", TASKS.name),
                ("meeting_scheduler", AGENDA.name),
            ):
                found = await eventually(
                    lambda topic=topic: read_as_admin(secured, topic),  # type: ignore[misc]
                    lambda records: len(records) >= 1,
                    within=30,
                    what=f"a record on {topic}",
                )
                record(who, f"read its input, write {topic} ({len(found)} record(s))",
                       "written", "written")  # fmt: skip
            messages = await smtp.inbox.wait_for(1, within=15)
            record("notifier", "alert e-mail sent", "sent", "sent" if messages else "none")
    record("everyone", f"contact to alert, tasks, agenda: {time.monotonic() - started:.1f} s",
           "done", "done")  # fmt: skip
    assert all(row.as_expected for row in TRIED), TRIED


def record(who: str, what: str, expected: str, outcome: str) -> None:
    TRIED.append(Tried(who, what, expected, outcome))


async def send_contact(broker: LocalKafka, contact: bytes) -> str:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        **PRODUCER_SAFETY,
        **security_of(broker).client_options("police-intake"),
    )
    await producer.start()
    try:
        reference = json.loads(contact)["police_reference"]
        await producer.send_and_wait(
            POLICE_CONTACTS.name, contact, key=reference.encode(),
            headers=police_record_headers(contact),
        )  # fmt: skip
        return "written"
    finally:
        await producer.stop()


REFUSED_TOPIC = "TopicAuthorizationFailedError"
REFUSED_GROUP = "GroupAuthorizationFailedError"
NOT_CONNECTED = "KafkaConnectionError"  # aiokafka's word when no broker would let it in


async def test_every_other_door_is_shut(secured: LocalKafka, tmp_path: Path) -> None:
    security = security_of(secured)
    bootstrap = secured.bootstrap_servers

    def as_(who: str) -> dict[str, Any]:
        return security.client_options(who)

    # Something to read: a contact on the ingress topic, then who may not read it tries.
    assert (
        await attempt(produce(as_("police-intake"), bootstrap, POLICE_CONTACTS.name)) == "written"
    )

    writes = [
        ("notifier", REFERRALS.name),  # forge a referral
        ("police-intake", REFERRALS.name),
        # Intake may write the ingress topic (its heartbeats), never a contact without the police
        # signature (tests/fault/test_dead_mans_switch.py); the other services may not write it.
        ("casework", POLICE_CONTACTS.name),  # forge a police contact
        ("casework", ALERTS.name),
        ("meeting_scheduler", TASKS.name),
    ]
    for who, topic in writes:
        outcome = await attempt(produce(as_(who), bootstrap, topic))
        record(who, f"write {topic}", REFUSED_TOPIC, outcome)

    reads = [
        ("casework", POLICE_CONTACTS.name),  # the personal data
        ("notifier", POLICE_CONTACTS.name),
        ("meeting_scheduler", POLICE_CONTACTS.name),
        ("police-intake", POLICE_CONTACTS.name),  # may write its contacts, not read them back
        ("meeting_scheduler", AGENDA.name),  # writes the agenda topic, never reads it
        ("intake", ALERTS.name),
    ]
    for who, topic in reads:
        outcome = await attempt(fetch(as_(who), bootstrap, topic))
        record(who, f"read {topic}", REFUSED_TOPIC, outcome)

    outcome = await attempt(join_group(as_("notifier"), bootstrap, REFERRALS.name, "casework"))
    record("notifier", f"read {REFERRALS.name} in casework's group", REFUSED_GROUP, outcome)

    outcome = await attempt(create_topic(as_("casework"), bootstrap, "casework.scratch"))
    record("casework", "create a topic", "error code 29", outcome)  # TOPIC_AUTHORIZATION_FAILED

    seen = await listed_topics(as_("casework"), bootstrap)
    record("casework", "list topics", "sees only its own",
           "sees only its own" if POLICE_CONTACTS.name not in seen else f"sees {seen}")  # fmt: skip

    before = failed_authentications(secured)
    outcome = await attempt(produce(security.client_options("intake", "not-the-password"),
                                            bootstrap, REFERRALS.name))  # fmt: skip
    record("intake (wrong password)", f"write {REFERRALS.name}", NOT_CONNECTED, outcome)
    mallory = security.client_options("intake") | {"sasl_plain_username": "mallory"}
    outcome = await attempt(produce(mallory, bootstrap, REFERRALS.name))
    record("mallory (no such user)", f"write {REFERRALS.name}", NOT_CONNECTED, outcome)
    refused_logins = failed_authentications(secured) - before
    record("broker log", "SCRAM logins refused for invalid credentials", "at least 2",
           "at least 2" if refused_logins >= 2 else str(refused_logins))  # fmt: skip

    outcome = await attempt(produce({}, bootstrap, POLICE_CONTACTS.name))
    record("anyone, plaintext", f"write {POLICE_CONTACTS.name}", NOT_CONNECTED, outcome)

    tls_only = {"security_protocol": "SSL", "ssl_context": as_("intake")["ssl_context"]}
    outcome = await attempt(produce(tls_only, bootstrap, POLICE_CONTACTS.name))
    record("anyone, TLS without SCRAM", f"write {POLICE_CONTACTS.name}", NOT_CONNECTED, outcome)

    # The other way round: a client that trusts another CA will not talk to this broker.
    other_ca = make_throwaway_tls(tmp_path / "other-ca").ca_file
    impostor_check = as_("intake") | {
        "ssl_context": ssl.create_default_context(cafile=str(other_ca))
    }
    outcome = await attempt(produce(impostor_check, bootstrap, REFERRALS.name))
    record("intake, trusting another CA", f"write {REFERRALS.name}", NOT_CONNECTED, outcome)

    # Positive controls: the same clients, with the grants they do hold, get through.
    for who, topic in (("notifier", ALERTS.name), ("intake", REFERRALS.name)):
        outcome = await attempt(produce(as_(who), bootstrap, topic))
        record(who, f"write {topic} (its own)", "written", outcome)
    outcome = await attempt(fetch(as_("intake"), bootstrap, POLICE_CONTACTS.name))
    record("intake", f"read {POLICE_CONTACTS.name} (its own)", "read", outcome)

    assert all(row.as_expected for row in TRIED), TRIED


@pytest.fixture(scope="module", autouse=True)
def print_table(request: pytest.FixtureRequest) -> Any:
    """The table of what was tried, printed to the terminal at the end of the module."""
    yield
    width = max(len(row.who) for row in TRIED) if TRIED else 10
    what_width = max(len(row.what) for row in TRIED) if TRIED else 10
    lines = [f"{'who':<{width}}  {'tried':<{what_width}}  {'expected':<30}  happened"]
    for row in TRIED:
        mark = "" if row.as_expected else "   <-- NOT AS EXPECTED"
        lines.append(
            f"{row.who:<{width}}  {row.what:<{what_width}}  {row.expected:<30}  {row.outcome}{mark}"
        )
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n\nKafka security: what was tried and what happened\n" + "\n".join(lines))
