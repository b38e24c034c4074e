"""The dead-man's switch, intake's half: a synthetic heartbeat takes a police contact's path.

Every `INTAKE_HEARTBEAT_SECONDS` intake writes a heartbeat record onto the ingress topic (the topic
the police write), reads it back with the same subscriber as a contact, and queues a HeartbeatV1
into its outbox for the referrals topic, as it queues a referral. The notifier makes one delivery
attempt to the SMS gateway per heartbeat and pages an operator when none has gone end to end for
a while (services/notifier/heartbeat.py). A broken broker, relay, consumer or gateway thus stops
the heartbeats, and the silence is what pages.

The record is marked by a header and signed with intake's own Ed25519 event key (never the police
HMAC): the ingress decoder accepts a marked record only with intake's signature, so someone who may
write the ingress topic cannot forge one, and a heartbeat cannot pass for a contact or open a case.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker
from sqlalchemy.exc import IntegrityError

from services.intake.adapters.tables import outbox
from services.intake.handlers import PRODUCER, IntakeDeps
from shared.background import WakeableLoop
from shared.event_signing import EventSigner, EventVerifier, ForgedEvent
from shared.events import HeartbeatV1
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)

HEARTBEAT_HEADER = "x-safeguarding-heartbeat"  # the mark: "1" on a heartbeat record
HEARTBEAT_KEY = "heartbeat"  # one key: heartbeats stay in order on one partition


def is_marked(record: object) -> bool:
    """True if the record claims to be a heartbeat (any value of the header counts as a claim, so
    a record cannot half-claim it to slip past both checks)."""
    if not isinstance(record, ConsumerRecord):
        return False
    return any(name.lower() == HEARTBEAT_HEADER for name, _ in record.headers or ())


def read_heartbeat(record: object, verifier: EventVerifier) -> HeartbeatV1:
    """The heartbeat in a marked ingress record, or ForgedEvent (a permanent error: the record is
    dead-lettered) unless intake itself signed it."""
    if not isinstance(record, ConsumerRecord):
        raise ForgedEvent("a heartbeat must be a Kafka record")
    value = record.value or b""
    signer = verifier.verify(record.topic, record.key, value, record.headers or ())
    if signer != PRODUCER:  # PRODUCERS allows only intake on this topic; said again where it counts
        raise ForgedEvent("a heartbeat must be signed by intake")
    return HeartbeatV1.model_validate_json(value)


async def queue_heartbeat(heartbeat: HeartbeatV1, deps: IntakeDeps) -> None:
    """Into the outbox for the referrals topic, the way a referral goes; no case, no vault record,
    no request id. Idempotent on the event id: a redelivered record queues nothing twice."""
    try:
        async with deps.engine.begin() as connection:
            await enqueue(connection, outbox, deps.referrals_topic, HEARTBEAT_KEY, heartbeat)
    except IntegrityError:
        return  # queued already (the record was read again after a restart)
    deps.on_commit()


class HeartbeatEmitter:
    """Writes a heartbeat onto the ingress topic every `interval_seconds`, the first at start."""

    def __init__(
        self,
        broker: KafkaBroker,
        signer: EventSigner,
        contacts_topic: str,
        deps: IntakeDeps,
        interval_seconds: float,
        on_sent: Callable[[], None] = lambda: None,  # counts it (the metric, where there is one)
    ) -> None:
        self._broker, self._signer, self._topic, self._deps = broker, signer, contacts_topic, deps
        self._sequence = itertools.count()
        self._on_sent = on_sent
        self._loop = WakeableLoop("heartbeat", self.emit, interval_seconds)

    async def emit(self) -> None:
        heartbeat = HeartbeatV1(
            occurred_at=self._deps.clock.now(),
            correlation_id=str(uuid.uuid4()),
            producer=PRODUCER,
            sequence=next(self._sequence),
        )
        key, value = HEARTBEAT_KEY.encode(), heartbeat.model_dump_json().encode()
        await self._broker.publish(
            value,
            topic=self._topic,
            key=key,
            correlation_id=heartbeat.correlation_id,
            headers={
                "content-type": "application/json",
                HEARTBEAT_HEADER: "1",
                **self._signer.headers(self._topic, key, value),
            },
        )
        self._on_sent()
        log.debug("heartbeat_sent", sequence=heartbeat.sequence)

    async def start(self) -> None:
        await self._loop.start()
        self._loop.wake()  # the first heartbeat now, not one interval after start

    async def stop(self) -> None:
        await self._loop.stop()
