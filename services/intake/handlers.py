"""Intake's use case: receive a police contact, keep the person's data in the vault, open or update
the case, and queue the referral event (outbox) in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.intake.adapters.tables import cases, outbox, request_ids, vault_records
from services.intake.adapters.vault import VaultCipher
from services.intake.contract import PoliceContactV1
from services.intake.domain import (
    Decision,
    UrgencyPolicy,
    decide,
    new_case_reference,
    operation_group,
)
from services.intake.metrics import IntakeMetrics
from shared.clock import Clock
from shared.db import insert_row_ignoring_duplicates
from shared.events import ChildReferralOpenedV1, Pathway, ReferralOpenedV1, ReferralUpdatedV1
from shared.logging import get_logger
from shared.outbox import enqueue

log = get_logger(__name__)
ReferralEventType = type[ReferralOpenedV1 | ChildReferralOpenedV1 | ReferralUpdatedV1]
PRODUCER = "intake"


class Outcome(StrEnum):
    OPENED = "opened"  # a new case; a referral event was queued
    UPDATED = "updated"  # same police contact, changed content; an update event was queued
    REPLAYED = "replayed"  # identical to what we hold; nothing happens


@dataclass(frozen=True)
class Received:
    case_reference: str
    outcome: Outcome


@dataclass(frozen=True)
class IntakeDeps:
    engine: AsyncEngine
    vault: VaultCipher
    clock: Clock
    policy: UrgencyPolicy
    referrals_topic: str
    on_commit: Callable[[], None]  # wakes the outbox relay
    metrics: IntakeMetrics = field(default_factory=IntakeMetrics.unregistered)


async def receive_contact(
    contact: PoliceContactV1, deps: IntakeDeps, correlation_id: str
) -> Received:
    """Idempotent on (force_code, police_reference). Two racing copies of one contact: the unique
    constraint lets one insert win, and the loser re-reads and sees a replay."""
    for _ in range(3):
        try:
            received = await _receive_once(contact, deps, correlation_id)
        except IntegrityError:
            continue
        if received.outcome is not Outcome.REPLAYED:
            deps.on_commit()
        deps.metrics.received(received.outcome)  # committed (or a replay, which commits nothing)
        log.info(
            "contact_received", case_reference=received.case_reference, outcome=received.outcome
        )
        return received
    raise RuntimeError("could not settle a concurrent insert of the same police contact")


async def remember_request_id(
    engine: AsyncEngine, request_id: str, key_id: str, now: datetime, source: str = "http"
) -> bool:
    """False if the id was seen before from another `source`: a replayed signed request. A Kafka
    record read again from its own place (a redelivery after a restart) is not a replay."""
    async with engine.begin() as connection:
        result = await insert_row_ignoring_duplicates(
            connection,
            request_ids,
            {"request_id": request_id, "key_id": key_id, "seen_at": now, "source": source},
        )
        if result.rowcount or source == "http":
            return bool(result.rowcount)
        first = await connection.scalar(
            sa.select(request_ids.c.source).where(request_ids.c.request_id == request_id)
        )
    return bool(first == source)


async def _receive_once(
    contact: PoliceContactV1, deps: IntakeDeps, correlation_id: str
) -> Received:
    now = deps.clock.now()
    document = contact.reveal()
    fingerprint = deps.vault.fingerprint(document)
    decision = decide(contact, deps.policy)
    async with deps.engine.begin() as connection:
        existing = (
            await connection.execute(
                sa.select(
                    cases.c.case_reference,
                    cases.c.fingerprint,
                    cases.c.pathway,
                    vault_records.c.key_id,
                )
                .outerjoin(vault_records, vault_records.c.case_reference == cases.c.case_reference)
                .where(
                    cases.c.force_code == contact.force_code,
                    cases.c.police_reference == contact.police_reference,
                )
            )
        ).first()
        if existing is not None and existing.fingerprint == deps.vault.fingerprint(
            document, existing.key_id
        ):
            return Received(existing.case_reference, Outcome.REPLAYED)
        if existing is None:
            reference = new_case_reference(now)
            await connection.execute(
                cases.insert().values(
                    case_reference=reference,
                    force_code=contact.force_code,
                    police_reference=contact.police_reference,
                    fingerprint=fingerprint,
                    pathway=decision.pathway.value,
                    urgency=decision.urgency.value,
                    district=contact.location.district.value,
                    received_at=now,
                    updated_at=now,
                )
            )
            await _store_in_vault(connection, deps.vault, reference, document, now)
            event_type: ReferralEventType = (
                ChildReferralOpenedV1 if decision.pathway is Pathway.CHILD else ReferralOpenedV1
            )
            outcome = Outcome.OPENED
        else:
            reference = existing.case_reference
            await connection.execute(
                cases.update()
                .where(cases.c.case_reference == reference)
                .values(
                    fingerprint=fingerprint,
                    pathway=decision.pathway.value,
                    urgency=decision.urgency.value,
                    district=contact.location.district.value,
                    updated_at=now,
                    purged_at=None,  # personal data is held again, and the retention clock restarts
                )
            )
            await _store_in_vault(connection, deps.vault, reference, document, now)
            # A corrected age that makes an adult's case a child's opens the child referral now.
            became_child = (
                decision.pathway is Pathway.CHILD and existing.pathway != Pathway.CHILD.value
            )
            event_type = ChildReferralOpenedV1 if became_child else ReferralUpdatedV1
            outcome = Outcome.UPDATED
        event = _referral_event(event_type, contact, decision, reference, now, correlation_id)
        await enqueue(connection, outbox, deps.referrals_topic, reference, event)
    return Received(reference, outcome)


async def _store_in_vault(
    connection: AsyncConnection,
    vault: VaultCipher,
    reference: str,
    document: dict[str, object],
    now: datetime,
) -> None:
    """Replace the case's sealed record (also after a retention purge, when an update arrives)."""
    sealed = vault.seal(document, reference)
    await connection.execute(
        vault_records.delete().where(vault_records.c.case_reference == reference)
    )
    await connection.execute(
        vault_records.insert().values(
            case_reference=reference,
            key_id=sealed.key_id,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            stored_at=now,
        )
    )


def _referral_event(
    event_type: ReferralEventType,
    contact: PoliceContactV1,
    decision: Decision,
    reference: str,
    now: datetime,
    correlation_id: str,
) -> ReferralOpenedV1 | ChildReferralOpenedV1 | ReferralUpdatedV1:
    """Only non-identifying facts leave intake."""
    return event_type(
        occurred_at=now,
        correlation_id=correlation_id,
        producer=PRODUCER,
        case_reference=reference,
        force_code=contact.force_code,
        recorded_at=contact.recorded_at,
        district=contact.location.district,
        exploitation_types=tuple(contact.exploitation_types),
        pathway=decision.pathway,
        age_unknown=decision.age_unknown,
        urgency=decision.urgency,
        immediate_risk=contact.immediate_risk,
        nrm_consent=contact.nrm_consent,
        support_needs=tuple(contact.support_needs),
        operation=contact.operation,
        operation_group=operation_group(contact),
    )
