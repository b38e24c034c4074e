"""Notifier's composition root.

faststream run services.notifier.main:create_app --factory --host 127.0.0.1 --port 8002
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from services.notifier.adapters.apprise_sender import AppriseSender
from services.notifier.adapters.tables import outbox
from services.notifier.deps import NotifierDeps
from services.notifier.http import build_http_app
from services.notifier.policy import load_policy
from services.notifier.ports import Sender
from services.notifier.router import build_router
from services.notifier.scheduling import DrainSends, NotifierClock
from services.notifier.settings import NotifierSettings
from shared.app import ServiceApp, build_infrastructure, build_service_app, document_publications
from shared.background import WakeableLoop
from shared.clock import Clock, SystemClock
from shared.events import AlertEvent
from shared.rota import load_rota
from shared.topics import AGENDA, ALERTS, REFERRALS, TASKS

SERVICE = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(
    settings: NotifierSettings | None = None,
    clock: Clock | None = None,
    sender: Sender | None = None,
) -> ServiceApp:
    settings = settings or NotifierSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    scheduler = WakeableLoop(
        "notifier_clock", lambda: ticker.tick(), settings.dispatch_poll_seconds
    )
    deps = NotifierDeps(
        engine=infra.engine,
        rota=load_rota(settings.rota_file),
        policy=load_policy(settings.alerting_file),
        sender=sender or AppriseSender(),
        clock=infra.clock,
        alerts_topic=settings.topic(ALERTS.name),
        public_url=settings.public_url.rstrip("/"),
        ack_secret=base64.b64decode(settings.ack_secret.get_secret_value()),
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        wake_scheduler=scheduler.wake,
        wake_outbox=infra.relay.wake,
    )
    ticker = NotifierClock(deps)
    document_publications(infra.broker, settings, [(ALERTS, AlertEvent)])
    infra.broker.include_router(
        build_router(
            deps,
            settings.topic(REFERRALS.name),
            settings.topic(TASKS.name),
            settings.topic(AGENDA.name),
        )
    )
    # Stopped in reverse: sends under way finish first, then the clock stops.
    return build_service_app(
        infra,
        build_http_app(deps),
        MIGRATIONS,
        background=[scheduler, DrainSends(ticker.dispatcher)],
    )
