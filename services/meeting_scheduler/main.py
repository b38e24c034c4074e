"""Meeting scheduler's composition root.

faststream run services.meeting_scheduler.main:create_app --factory --host 127.0.0.1 --port 8004
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.meeting_scheduler.adapters.tables import outbox, processed_events
from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.funder_report_api import add_report_routes
from services.meeting_scheduler.handlers import SchedulerDeps
from services.meeting_scheduler.http import build_http_app
from services.meeting_scheduler.metrics import SchedulerMetrics
from services.meeting_scheduler.nasn import erase_old_operations
from services.meeting_scheduler.publishing import Publisher
from services.meeting_scheduler.router import build_router
from services.meeting_scheduler.settings import SchedulerSettings
from services.meeting_scheduler.training import PaceWatch
from services.meeting_scheduler.training_api import add_training_routes
from shared.app import ServiceApp, build_infrastructure, build_service_app, document_publications
from shared.background import WakeableLoop
from shared.clock import Clock, SystemClock
from shared.events import AgendaEvent
from shared.housekeeping import Housekeeping
from shared.outbox import prune_published
from shared.staff_auth import Staff, StaffAuth, StaffRole
from shared.topics import AGENDA, ALERTS, REFERRALS, TASKS

SERVICE = "meeting_scheduler"
HOUSEKEEPING_SECONDS = 3600.0
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: SchedulerSettings | None = None, clock: Clock | None = None) -> ServiceApp:
    settings = settings or SchedulerSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    calendar = load_calendar(settings.calendar_file)
    deps = SchedulerDeps(
        engine=infra.engine,
        calendar=calendar,
        clock=infra.clock,
        agenda_topic=settings.topic(AGENDA.name),
        on_commit=infra.relay.wake,
        metrics=SchedulerMetrics.register(infra.metrics, [item.id for item in calendar.series]),
    )
    document_publications(infra.broker, settings, [(AGENDA, AgendaEvent)])
    infra.broker.include_router(
        build_router(
            deps,
            settings.topic(REFERRALS.name),
            settings.topic(TASKS.name),
            settings.topic(ALERTS.name),
        )
    )
    publisher = Publisher(
        infra.engine, calendar, infra.clock, settings.topic(AGENDA.name), infra.relay.wake
    )
    publishing = WakeableLoop(
        "agenda_publisher", publisher.publish_due, settings.publish_poll_seconds
    )
    staff_auth = StaffAuth(
        settings.staff_oidc,
        static_tokens={
            token: Staff(name, frozenset({StaffRole.MEETING_COORDINATOR}))
            for name, token in settings.tokens().items()
        }
        | {  # the head of service's role: the funder's report too (funder_report_api.py)
            token: Staff(name, frozenset({StaffRole.HEAD_OF_SERVICE}))
            for name, token in settings.head_tokens().items()
        },
        deployed=not settings.environment.is_local,
    )
    http_app = build_http_app(infra.engine, calendar, infra.clock, staff_auth, publisher)
    add_report_routes(http_app, infra.engine, staff_auth)  # the funder's quarterly report
    background = []
    if calendar.training is not None:  # training sessions and the pace warning (training.py)
        watch = PaceWatch(
            infra.engine, calendar.training, infra.clock, settings.topic(AGENDA.name),
            infra.relay.wake,
        )  # fmt: skip
        pacing = WakeableLoop("training_pace", watch.check, settings.training_pace_poll_seconds)
        add_training_routes(
            http_app, infra.engine, calendar.training, infra.clock, staff_auth, pacing.wake
        )
        if settings.training_pace_warnings:
            pacing.wake()  # checked at start, then every poll and after each attendance recorded
            background.append(pacing)

    async def housekeeping() -> None:
        retention = timedelta(days=settings.operation_retention_days)
        await erase_old_operations(infra.engine, infra.clock.now() - retention)
        async with infra.engine.begin() as connection:
            await prune_published(connection, outbox, infra.clock.now() - retention)

    hourly = WakeableLoop("housekeeping", housekeeping, HOUSEKEEPING_SECONDS)
    pruning = Housekeeping.for_service(infra, outbox, processed_events)
    return build_service_app(
        infra, http_app, MIGRATIONS, background=[publishing, hourly, pruning, *background]
    )
