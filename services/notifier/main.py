"""Notifier's composition root.

faststream run services.notifier.main:create_app --factory --host 127.0.0.1 --port 8002
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.notifier.adapters.apprise_sender import AppriseSender
from services.notifier.adapters.tables import outbox
from services.notifier.handlers import NotifierDeps, deliver_due
from services.notifier.ports import Sender
from services.notifier.rota import load_rota
from services.notifier.router import build_router
from services.notifier.settings import NotifierSettings
from shared.app import ServiceApp, build_infrastructure, build_service_app, document_publications
from shared.background import WakeableLoop
from shared.clock import Clock, SystemClock
from shared.events import AlertDeliveredV1
from shared.topics import ALERTS, REFERRALS

SERVICE = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: NotifierSettings | None = None,
    clock: Clock | None = None,
    sender: Sender | None = None,
) -> ServiceApp:
    settings = settings or NotifierSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    dispatcher = WakeableLoop(
        "alert_dispatcher", lambda: deliver_due(deps), settings.dispatch_poll_seconds
    )
    deps = NotifierDeps(
        engine=infra.engine,
        rota=load_rota(settings.rota_file),
        sender=sender or AppriseSender(),
        clock=infra.clock,
        alerts_topic=settings.topic(ALERTS.name),
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        wake_dispatcher=dispatcher.wake,
        wake_outbox=infra.relay.wake,
    )
    document_publications(infra.broker, settings, [(ALERTS, AlertDeliveredV1)])
    infra.broker.include_router(build_router(deps, settings.topic(REFERRALS.name)))
    http_app = FastAPI(title="Safeguarding notifier", version="1")
    return build_service_app(infra, http_app, MIGRATIONS, background=[dispatcher])
