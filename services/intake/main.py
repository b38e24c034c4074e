"""Intake's composition root: the only place that wires settings, adapters and routes.

Run it the FastStream way:
    faststream run services.intake.main:create_app --factory --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.intake.adapters.tables import outbox
from services.intake.adapters.vault import VaultCipher
from services.intake.domain import UrgencyPolicy
from services.intake.handlers import IntakeDeps
from services.intake.heartbeat import HeartbeatEmitter
from services.intake.http import build_http_app
from services.intake.metrics import IntakeMetrics
from services.intake.router import PoliceSignatures, build_router
from services.intake.settings import IntakeSettings
from services.intake.vault_access import purge_expired
from shared.app import ServiceApp, build_infrastructure, build_service_app, document_publications
from shared.background import WakeableLoop
from shared.clock import Clock, SystemClock
from shared.events import HeartbeatV1, ReferralTopicEvent
from shared.housekeeping import Housekeeping
from shared.staff_auth import Staff, StaffAuth, StaffRole
from shared.topics import POLICE_CONTACTS, REFERRALS

SERVICE = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None, clock: Clock | None = None) -> ServiceApp:
    settings = settings or IntakeSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    deps = IntakeDeps(
        engine=infra.engine,
        vault=VaultCipher.from_base64(
            settings.vault_key_id,
            settings.vault_key.get_secret_value(),
            {key_id: key.get_secret_value() for key_id, key in settings.vault_old_keys.items()},
        ),
        clock=infra.clock,
        policy=UrgencyPolicy(child_is_immediate=settings.child_is_immediate),
        referrals_topic=settings.topic(REFERRALS.name),
        on_commit=infra.relay.wake,
        metrics=IntakeMetrics.register(infra.metrics),
    )
    document_publications(infra.broker, settings, [(REFERRALS, ReferralTopicEvent)])
    contacts_topic = settings.topic(POLICE_CONTACTS.name)
    # Intake writes its own heartbeats onto the ingress topic (services/intake/heartbeat.py):
    # declared whether or not they are on, so the contract and the Kafka ACLs do not depend on it.
    infra.broker.publisher(
        contacts_topic,
        title=f"{POLICE_CONTACTS.name}:heartbeat",
        description="HeartbeatV1 from intake itself, marked and signed with its event key.",
        schema=HeartbeatV1,
    )
    infra.broker.include_router(
        build_router(
            deps,
            contacts_topic,
            settings.max_body_bytes,
            PoliceSignatures(
                settings.police_key_bytes(),
                timedelta(seconds=settings.signature_tolerance_seconds),
            )
            if settings.signatures_required
            else None,
            heartbeats=settings.event_verifier(),
        )
    )
    http_app = build_http_app(
        deps,
        max_body_bytes=settings.max_body_bytes,
        police_keys=settings.police_key_bytes(),
        signatures_required=settings.signatures_required,
        signature_tolerance=timedelta(seconds=settings.signature_tolerance_seconds),
        staff_auth=StaffAuth(
            settings.staff_oidc,
            static_tokens={
                token.get_secret_value(): Staff(name, frozenset({StaffRole.VAULT_READER}))
                for name, token in settings.vault_readers.items()
            },
            deployed=not settings.environment.is_local,
        ),
    )

    async def purge() -> None:
        await purge_expired(
            infra.engine,
            infra.clock.now(),
            timedelta(days=settings.retention_days),
            request_id_window=timedelta(seconds=2 * settings.signature_tolerance_seconds),
        )

    purger = WakeableLoop("retention_purge", purge, settings.purge_interval_seconds)
    pruning = Housekeeping.for_service(infra, outbox, processed_events=None)
    sent = infra.metrics.counter(
        "safeguarding_heartbeats_sent_total", "Heartbeats written onto the ingress topic"
    )
    heartbeat = (
        [HeartbeatEmitter(infra.broker, settings.event_signer(SERVICE), contacts_topic, deps,
                          settings.heartbeat_seconds, on_sent=sent.inc)]
        if settings.heartbeat_seconds
        else []
    )  # fmt: skip
    return build_service_app(infra, http_app, MIGRATIONS, background=[purger, pruning, *heartbeat])
