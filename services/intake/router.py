"""Kafka ingress: the same contract as POST /v1/contacts, read from the police contacts topic."""

from __future__ import annotations

import uuid

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from services.intake.contract import parse_contact
from services.intake.handlers import IntakeDeps, receive_contact


def build_router(deps: IntakeDeps, contacts_topic: str) -> KafkaRouter:
    router = KafkaRouter()

    # NACK_ON_ERROR + the dead-letter middleware (shared/reliability.py): a contact is committed
    # only once it is stored or dead-lettered with its reason.
    @router.subscriber(
        contacts_topic,
        group_id="intake",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        description="Police contact v1 records (services/intake/contract.py).",
    )
    async def on_police_contact(message: KafkaMessage) -> None:
        contact = parse_contact(message.body, deps.clock.now())
        await receive_contact(
            contact, deps, correlation_id=message.correlation_id or str(uuid.uuid4())
        )

    return router
