"""Intake's composition root: the only place that wires settings, adapters and routes.

Run it the FastStream way:
    faststream run services.intake.main:create_app --factory --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

from pathlib import Path

from services.intake.adapters.tables import outbox
from services.intake.adapters.vault import VaultCipher
from services.intake.domain import UrgencyPolicy
from services.intake.handlers import IntakeDeps
from services.intake.http import build_http_app
from services.intake.router import build_router
from services.intake.settings import IntakeSettings
from shared.app import ServiceApp, build_infrastructure, build_service_app
from shared.clock import Clock, SystemClock
from shared.topics import POLICE_CONTACTS, REFERRALS

SERVICE = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None, clock: Clock | None = None) -> ServiceApp:
    settings = settings or IntakeSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    deps = IntakeDeps(
        engine=infra.engine,
        vault=VaultCipher.from_base64(settings.vault_key_id, settings.vault_key.get_secret_value()),
        clock=infra.clock,
        policy=UrgencyPolicy(child_is_immediate=settings.child_is_immediate),
        referrals_topic=settings.topic(REFERRALS.name),
        on_commit=infra.relay.wake,
    )
    infra.broker.include_router(build_router(deps, settings.topic(POLICE_CONTACTS.name)))
    return build_service_app(infra, build_http_app(deps, settings.max_body_bytes), MIGRATIONS)
