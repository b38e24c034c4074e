"""Casework's composition root.

faststream run services.casework.main:create_app --factory --host 127.0.0.1 --port 8003
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from services.casework.adapters.tables import outbox, processed_events
from services.casework.config import load_config
from services.casework.criminal_justice_http import add_criminal_justice_routes
from services.casework.criminal_justice_records import remind_bookings
from services.casework.directory import load_directory
from services.casework.directory_store import seed
from services.casework.figures_reporting import publish_figures
from services.casework.handlers import CaseworkDeps, chase_overdue
from services.casework.http import build_http_app
from services.casework.metrics import CaseworkMetrics, task_kinds
from services.casework.quarter_http import add_quarter_routes
from services.casework.quarter_reports import publish_closed_quarter
from services.casework.referral_records import follow_up_referrals
from services.casework.router import build_router
from services.casework.settings import CaseworkSettings
from shared.app import ServiceApp, build_infrastructure, build_service_app, document_publications
from shared.background import WakeableLoop
from shared.clock import Clock, SystemClock
from shared.events import TaskEvent
from shared.housekeeping import Housekeeping
from shared.rota import load_rota
from shared.staff_auth import Staff, StaffAuth, staff_roles
from shared.topics import ALERTS, REFERRALS, TASKS

SERVICE = "casework"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CaseworkSettings | None = None, clock: Clock | None = None) -> ServiceApp:
    settings = settings or CaseworkSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    config = load_config(settings.config_file)
    rota = load_rota(settings.rota_file)
    directory = load_directory(settings.directory_file)  # a bad file stops the start, named
    policy = config.deadline_policy()
    engagement = config.engagement_policy()  # criminal-justice support
    report = config.report_policy()  # the funder's quarterly report
    deps = CaseworkDeps(
        engine=infra.engine,
        policy=policy,
        chase=config.chase_policy(),
        rota=rota,
        clock=infra.clock,
        tasks_topic=settings.topic(TASKS.name),
        on_commit=infra.relay.wake,
        metrics=CaseworkMetrics.register(infra.metrics, task_kinds(policy) | engagement.kinds),
    )
    infra.metrics.add_sampler("casework", deps.metrics.sampler(infra.engine, infra.clock.now))
    document_publications(infra.broker, settings, [(TASKS, TaskEvent)])
    infra.broker.include_router(
        build_router(deps, settings.topic(REFERRALS.name), settings.topic(ALERTS.name))
    )

    chaser = WakeableLoop(
        "overdue_chaser", lambda: chase_overdue(deps), settings.chase_poll_seconds
    )
    # Reminders before booked interview and court dates, as often as overdue tasks are chased.
    booking_reminders = WakeableLoop(
        "booking_reminders", lambda: remind_bookings(deps, engagement), settings.chase_poll_seconds
    )
    # Onward referrals with no answer after the configured working days: one reminder each.
    referral_follow_ups = WakeableLoop(
        "referral_follow_ups",
        lambda: follow_up_referrals(deps, config.referral_follow_up_working_days),
        settings.chase_poll_seconds,
    )
    # Once a period however many instances run (figures_reporting.py).
    reporter = WakeableLoop(
        "figures_reporter",
        lambda: publish_figures(deps, config.people_supported_target, settings.figures_every_hours),
        settings.figures_every_hours * 3600,
    )
    # The last financial quarter ended in London, published once (quarter_reports.py).
    quarter_reporter = WakeableLoop(
        "quarter_reporter",
        lambda: publish_closed_quarter(deps, report),
        settings.quarter_poll_seconds,
    )
    roles = {person.id: staff_roles(person.role) for person in rota.people}
    staff_auth = StaffAuth(
        settings.staff_oidc,
        static_tokens={
            token: Staff(person, roles.get(person, frozenset()))
            for person, token in settings.tokens(list(roles)).items()
        },
        deployed=not settings.environment.is_local,
    )
    http_app = build_http_app(deps, staff_auth, config.people_supported_target)
    add_criminal_justice_routes(http_app, deps, engagement, staff_auth)
    add_quarter_routes(http_app, deps, report, staff_auth)
    housekeeping = Housekeeping.for_service(infra, outbox, processed_events)
    seeding = DirectorySeed(lambda: seed(infra.engine, directory, infra.clock.now()))
    return build_service_app(
        infra,
        http_app,
        MIGRATIONS,
        background=[
            seeding,
            chaser,
            booking_reminders,
            referral_follow_ups,
            reporter,
            quarter_reporter,
            housekeeping,
        ],
    )


class DirectorySeed:
    """Adds the directory file's new entries once the schema is migrated (background jobs start
    after migrations): services/casework/directory.py says which entries the file may add."""

    def __init__(self, run: Callable[[], Awaitable[int]]) -> None:
        self.run = run

    async def start(self) -> None:
        await self.run()

    async def stop(self) -> None:
        return None
