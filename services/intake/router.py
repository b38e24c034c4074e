"""Kafka ingress: the same contract as POST /v1/contacts, read from the police contacts topic."""

from __future__ import annotations

import uuid

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from services.intake.contract import PoliceContactV1, parse_contact
from services.intake.handlers import IntakeDeps, receive_contact
from shared.errors import PermanentError


def build_router(deps: IntakeDeps, contacts_topic: str, max_record_bytes: int) -> KafkaRouter:
    router = KafkaRouter()

    async def decode_contact(message: StreamMessage[object]) -> PoliceContactV1:
        # Our decoder, not FastStream's: the contract needs `now` (recorded_at may not be in the
        # future) and raw bytes, so that a bad record fails as a ValidationError → dead letter.
        if len(message.body) > max_record_bytes:
            raise PermanentError(f"record larger than {max_record_bytes} bytes")
        return parse_contact(message.body, deps.clock.now())

    # NACK_ON_ERROR + the dead-letter middleware (shared/reliability.py): a contact is committed
    # only once it is stored or dead-lettered with its reason.
    @router.subscriber(
        contacts_topic,
        group_id="intake",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        decoder=decode_contact,
        title="police-contacts",
    )
    async def on_police_contact(contact: PoliceContactV1, message: KafkaMessage) -> None:
        """Police contact v1 from the police intake system; the same contract as
        POST /v1/contacts. Invalid records go to the dead-letter topic with the reason."""
        await receive_contact(
            contact, deps, correlation_id=message.correlation_id or str(uuid.uuid4())
        )

    return router
