"""Kafka ingress: the same contract as POST /v1/contacts, read from the police contacts topic."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from aiokafka.structs import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from services.intake.auth import AuthenticationFailed, verify_record
from services.intake.contract import PoliceContactV1, parse_contact
from services.intake.handlers import IntakeDeps, receive_contact, remember_request_id
from services.intake.heartbeat import is_marked, queue_heartbeat, read_heartbeat
from shared.errors import PermanentError
from shared.event_signing import EventVerifier
from shared.events import HeartbeatV1, trusted_correlation_id
from shared.kafka import FETCH_LOOP_FALLBACK_MS
from shared.replay import origin_of


@dataclass(frozen=True)
class PoliceSignatures:
    """The police system signs ingress records as it signs HTTP requests (services/intake/auth.py);
    required everywhere but dev."""

    keys: Mapping[str, bytes]
    tolerance: timedelta


class UnsignedContact(PermanentError):
    """The record is not signed by a police key we hold, or its request id was used before."""


def build_router(
    deps: IntakeDeps,
    contacts_topic: str,
    max_record_bytes: int,
    signatures: PoliceSignatures | None,
    heartbeats: EventVerifier,
) -> KafkaRouter:
    router = KafkaRouter()

    async def decode_contact(message: StreamMessage[object]) -> PoliceContactV1 | HeartbeatV1:
        # Our decoder, not FastStream's: the contract needs `now` (recorded_at may not be in the
        # future) and raw bytes, so that a bad record fails as a ValidationError → dead letter.
        # The signature is checked first: nothing unauthenticated is parsed.
        if len(message.body) > max_record_bytes:
            raise PermanentError(f"record larger than {max_record_bytes} bytes")
        # A heartbeat (services/intake/heartbeat.py) is checked against intake's own event key,
        # in every environment, and never by the police path: marked but not intake's → forged.
        if is_marked(message.raw_message):
            return read_heartbeat(message.raw_message, heartbeats)
        if signatures is not None:
            await check_signature(message.raw_message, signatures)
        return parse_contact(message.body, deps.clock.now())

    async def check_signature(record: object, signatures: PoliceSignatures) -> None:
        if not isinstance(record, ConsumerRecord):
            raise UnsignedContact("not a Kafka record")
        # A replay vouched for by intake's own dead letter (shared/replay.py) is judged as the
        # original: its broker time for freshness, its place for the replay store below.
        origin = origin_of(record)
        try:
            signed = verify_record(
                record.headers, record.value or b"", signatures.keys, origin.timestamp_ms,
                origin.timestamp_type, signatures.tolerance,
            )  # fmt: skip
        except AuthenticationFailed as failure:
            raise UnsignedContact(f"police signature: {failure}") from None
        # The same replay store as HTTP. A record read again from its own place (a redelivery
        # after a restart) is not a replay; the same request id anywhere else is.
        source = f"kafka:{origin.topic}:{origin.partition}:{origin.offset}"
        now = deps.clock.now()
        if not await remember_request_id(
            deps.engine, signed.request_id, signed.key_id, now, source
        ):
            raise UnsignedContact("police signature: request id already used")

    # NACK_ON_ERROR + the dead-letter middleware (shared/reliability.py): a contact is committed
    # only once it is stored or dead-lettered with its reason.
    @router.subscriber(
        contacts_topic,
        group_id="intake",
        consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        decoder=decode_contact,
        title="police-contacts",
    )
    async def on_police_contact(
        contact: PoliceContactV1 | HeartbeatV1, message: KafkaMessage
    ) -> None:
        """Police contact v1 from the police intake system; the same contract as
        POST /v1/contacts. Invalid records go to the dead-letter topic with the reason."""
        if isinstance(contact, HeartbeatV1):
            await queue_heartbeat(contact, deps)
            return
        await receive_contact(
            contact,
            deps,
            correlation_id=trusted_correlation_id(message.correlation_id) or str(uuid.uuid4()),
        )

    return router
