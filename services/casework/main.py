"""Casework's composition root.

faststream run services.casework.main:create_app --factory --host 127.0.0.1 --port 8003
"""

from __future__ import annotations

from pathlib import Path

from services.casework.adapters.tables import outbox
from services.casework.domain import DeadlinePolicy
from services.casework.handlers import CaseworkDeps
from services.casework.http import build_http_app
from services.casework.router import build_router
from services.casework.settings import CaseworkSettings
from shared.app import ServiceApp, build_infrastructure, build_service_app, document_publications
from shared.clock import Clock, SystemClock
from shared.events import TaskOpenedV1
from shared.topics import REFERRALS, TASKS

SERVICE = "casework"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CaseworkSettings | None = None, clock: Clock | None = None) -> ServiceApp:
    settings = settings or CaseworkSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    deps = CaseworkDeps(
        engine=infra.engine,
        policy=DeadlinePolicy(),
        clock=infra.clock,
        tasks_topic=settings.topic(TASKS.name),
        on_commit=infra.relay.wake,
    )
    document_publications(infra.broker, settings, [(TASKS, TaskOpenedV1)])
    infra.broker.include_router(build_router(deps, settings.topic(REFERRALS.name)))
    return build_service_app(infra, build_http_app(infra.engine), MIGRATIONS)
