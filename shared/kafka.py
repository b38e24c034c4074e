"""Kafka plumbing every service uses: the broker factory and explicit topic management."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import LogicPublisher
from faststream.kafka.security import parse_security
from faststream.kafka.subscriber.usecase import LogicSubscriber
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLScram512

from shared.event_signing import EventVerifier, ForgedEvent
from shared.logging import get_logger
from shared.topics import ALL_TOPICS, TopicSpec

if TYPE_CHECKING:
    from shared.settings import ServiceSettings

log = get_logger(__name__)

# At-least-once production: every in-sync replica has the record before the send returns, and the
# idempotent producer stops a retried send from writing it twice.
PRODUCER_SAFETY: dict[str, Any] = {"acks": "all", "enable_idempotence": True}
GRACEFUL_STOP_SECONDS = 10.0

# For a consumer group that reads a topic mostly to skip its records, and whose few useful ones
# need no haste (an acknowledgement recorded on an agenda, a task reminder, a published agenda):
# the broker holds each fetch until it has this many bytes or this long has passed, so the group
# fetches about twice a second instead of once per record or two. Every fetch is a request, a
# reply and a wake-up of the service's event loop: fetching was 11-17 % of casework's and the
# meeting scheduler's CPU at 5 contacts/s (bench.profile), and most of the records they fetch
# come to these groups (the alerts topic has several records per contact). The cost is up to
# half a second's delay on those groups only; a referral and a police contact are still fetched
# the moment they arrive (aiokafka's default: 1 byte).
UNHURRIED_FETCH_MIN_BYTES = 256 * 1024
UNHURRIED_FETCH_MAX_WAIT_MS = 500  # aiokafka's default, stated because the pair depends on it

# Every consumer's `consumer_timeout_ms`. aiokafka's fetch loop wakes when a fetch answers, when
# the service takes records from its buffer, when a rebalance takes partitions away, when metadata
# it asked for arrives and when a back-off ends; this timer only wakes it besides, in case none of
# those came. At aiokafka's 200 ms, the nine consumers woke their loops about 45 times a second
# with nothing to do. At 1,000 ms the four services at rest used 40.2 and 42.7 ms of CPU a second
# against 51.7 and 49.7 (python -m bench.idle, shipped timing; 76.3 against 91.8 with the test
# timing). 5,000 ms measured 38.2, within the noise of 1,000, so the shorter fallback is kept.
FETCH_LOOP_FALLBACK_MS = 1000


class MissingTopicsError(RuntimeError):
    """A service refuses to start rather than wait for topics that auto-creation would invent."""


class UnsafeProducerError(RuntimeError):
    """A service refuses to start if its connected producer could lose or duplicate a record."""


def check_producer_safety(broker: KafkaBroker) -> None:
    """Read the settings back from the producer actually connected, not from our own constants:
    a FastStream or aiokafka upgrade that changed a default, or a broker built without
    PRODUCER_SAFETY, must stop the service at start, not lose a referral months later.
    (aiokafka keeps acks on its sender and idempotence as a transaction manager; -1 means all.)"""
    producer = connected_producer(broker)
    if producer is None:
        raise UnsafeProducerError("the Kafka producer is not connected; cannot check its settings")
    acks = getattr(getattr(producer, "_sender", None), "_acks", None)
    idempotent = getattr(producer, "_txn_manager", None) is not None
    if acks != -1 or not idempotent:
        raise UnsafeProducerError(
            f"the Kafka producer must use acks=all with idempotence (found acks={acks!r}, "
            f"idempotence={'on' if idempotent else 'off'}); refusing to start"
        )


def connected_producer(broker: KafkaBroker) -> AIOKafkaProducer | None:
    """The aiokafka producer under FastStream's, once the broker is connected; None before that
    and under FastStream's in-memory test broker, which has none."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None)
    return producer if isinstance(producer, AIOKafkaProducer) else None


def security_from(settings: ServiceSettings) -> BaseSecurity | None:
    """TLS (verified against KAFKA_CA_FILE or the system store), optionally with SCRAM-SHA-512."""
    if settings.kafka_security == "plaintext":
        return None
    context = ssl.create_default_context(
        cafile=str(settings.kafka_ca_file) if settings.kafka_ca_file else None
    )
    if settings.kafka_security == "ssl":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    if not (settings.kafka_username and settings.kafka_password):
        raise ValueError("SCRAM needs KAFKA_USERNAME and KAFKA_PASSWORD")
    return SASLScram512(
        settings.kafka_username,
        settings.kafka_password.get_secret_value(),
        ssl_context=context,
        use_ssl=True,
    )


def _admin(bootstrap_servers: str, security: BaseSecurity | None) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **parse_security(security))


async def lenient_headers(
    record: ConsumerRecord[bytes, bytes], parse: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """Every subscriber's parser: FastStream's own, given the record with its header values made
    decodable. FastStream decodes each header as UTF-8 before our dead-letter middleware runs; a
    value that is not UTF-8 (or a null one) failed there, outside any handler, and the record was
    skipped without being processed or dead-lettered. Headers are metadata to us (the correlation
    id, the content type); an undecodable byte becomes U+FFFD and the record is handled as usual."""
    headers = tuple(
        (name, (value or b"").decode("utf-8", errors="replace").encode())
        for name, value in (record.headers or ())
    )
    if headers != tuple(record.headers or ()):
        record = dataclasses.replace(record, headers=headers)
    return await parse(record)


def bootstrap_addresses(bootstrap_servers: str) -> list[str]:
    """`KAFKA_BOOTSTRAP_SERVERS` ("host:port" or a comma-separated list of them) as a list."""
    return [address.strip() for address in bootstrap_servers.split(",") if address.strip()]


def create_broker(
    bootstrap_servers: str,
    client_id: str,
    middlewares: Sequence[Any] = (),
    security: BaseSecurity | None = None,
) -> KafkaBroker:
    broker = KafkaBroker(
        # "host:port,host:port" as operators write it: FastStream takes one address a string and
        # would read the whole list as a single host name.
        bootstrap_addresses(bootstrap_servers),
        client_id=client_id,
        middlewares=tuple(middlewares),
        security=security,
        # A logger of ours, so FastStream adds no plain-text handler of its own.
        logger=logging.getLogger(f"faststream.{client_id}"),
        # FastStream's "Received" and "Processed" line for every record at DEBUG, so not written at
        # INFO: two JSON lines per record per consumer were 2-4 % of a consuming service's CPU
        # (bench.profile), and each handler logs what it did. A failing handler is still logged
        # at ERROR, and faststream_received_messages_in_process counts records being handled.
        log_level=logging.DEBUG,
        parser=lenient_headers,
        # On SIGTERM a handler already running gets this long to finish and commit; one still
        # running after it is abandoned uncommitted, so its record is read again after restart.
        graceful_timeout=GRACEFUL_STOP_SECONDS,
        # Topics are created from shared/topics.py only (`python -m deploy.topics`): a subscriber
        # must not invent one with FastStream's defaults, nor need the Create ACL to try.
        allow_auto_create_topics=False,
        **PRODUCER_SAFETY,
    )
    return broker


def used_topics(broker: KafkaBroker) -> list[str]:
    """Every topic the broker's subscribers read and its publishers write: the ones this service
    needs, and the only ones its ACLs let it see (docs/deployment/kafka-security.md)."""
    names = {
        name
        for sub in broker.subscribers
        if isinstance(sub, LogicSubscriber)
        for name in sub.topic_names_for_subscribe
    }
    names.update(pub.topic for pub in broker.publishers if isinstance(pub, LogicPublisher))
    return sorted(names)


async def ensure_topics(
    bootstrap_servers: str,
    prefix: str = "",
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    security: BaseSecurity | None = None,
    replication_factor: int | None = None,
) -> list[str]:
    """Create the missing topics from their one definition; returns the names created.
    `replication_factor`: None picks 1 on fewer than three brokers, else 3."""
    admin = _admin(bootstrap_servers, security)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [spec for spec in specs if spec.full_name(prefix) not in existing]
        if wanted:
            if replication_factor is None:
                replication_factor = 1 if _single_broker(await admin.describe_cluster()) else 3
            await admin.create_topics(
                [
                    NewTopic(
                        name=spec.full_name(prefix),
                        num_partitions=spec.partitions,
                        replication_factor=replication_factor,
                        topic_configs=spec.configs(replication_factor),
                    )
                    for spec in wanted
                ]
            )
            await _until_listed(admin, {spec.full_name(prefix) for spec in wanted})
        return [spec.full_name(prefix) for spec in wanted]
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def _until_listed(
    admin: AIOKafkaAdminClient, names: set[str], limit_seconds: float = 30.0
) -> None:
    """CreateTopics returns once the controller has them; a busy broker may list them a moment
    later. Services verify topics at start, so wait until they are visible."""
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while missing := names - set(await admin.list_topics()):
        if asyncio.get_running_loop().time() > deadline:
            raise MissingTopicsError(f"created but not listed: {', '.join(sorted(missing))}")
        await asyncio.sleep(0.1)


def _single_broker(cluster: dict[str, Any]) -> bool:
    return len(cluster.get("brokers", [])) < 3


async def verify_topics(
    bootstrap_servers: str, names: Iterable[str], security: BaseSecurity | None = None
) -> None:
    admin = _admin(bootstrap_servers, security)
    await admin.start()
    try:
        missing = sorted(set(names) - set(await admin.list_topics()))
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    if missing:
        raise MissingTopicsError(
            f"topics missing: {', '.join(missing)} (create them with `python -m deploy.topics`; "
            "on a cluster with ACLs, a topic this principal may not Describe looks missing too)"
        )


def signature_middleware(
    verifier: EventVerifier, unsigned_topics: frozenset[str]
) -> Callable[..., BaseMiddleware]:
    """Checks every consumed record's event signature before the handler sees it; a forged one
    raises ForgedEvent, which the dead-letter middleware (outside this one) dead-letters with its
    reason, so it is never acted on. `unsigned_topics`: the ingress topic, whose records the police
    system signs with its own scheme (services/intake/auth.py)."""

    class SignatureMiddleware(BaseMiddleware):
        async def consume_scope(
            self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
        ) -> Any:
            record = msg.raw_message
            if isinstance(record, ConsumerRecord) and record.topic not in unsigned_topics:
                try:
                    verifier.verify(record.topic, record.key, record.value or b"", record.headers)
                except ForgedEvent as forged:
                    FORGED_EVENTS[record.topic] += 1
                    log.warning("forged_event_refused", topic=record.topic, reason=str(forged))
                    raise
            return await call_next(msg)

    return SignatureMiddleware


# Forged or unverifiable records refused, by topic, since the process started (exported with the
# operations work; the log line above is the record of each).
FORGED_EVENTS: Counter[str] = Counter()
