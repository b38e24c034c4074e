"""Notifier's composition root.

faststream run services.notifier.main:create_app --factory --host 127.0.0.1 --port 8002
"""

from __future__ import annotations

import base64
import functools
from datetime import timedelta
from pathlib import Path

from services.notifier.ack_limits import AckLimiter, AckLimits
from services.notifier.adapters.channel_sender import ChannelSender
from services.notifier.adapters.tables import outbox, processed_events
from services.notifier.deps import NotifierDeps
from services.notifier.heartbeat import HeartbeatMetrics, HeartbeatMonitor, HeartbeatTargets
from services.notifier.heartbeat_api import add_heartbeat_route
from services.notifier.heartbeat_store import HeartbeatStore
from services.notifier.http import build_http_app
from services.notifier.metrics import NotifierMetrics
from services.notifier.policy import load_policy
from services.notifier.ports import Sender
from services.notifier.rota_book import RotaBook
from services.notifier.rota_feeds import CalendarFeeds
from services.notifier.router import build_router
from services.notifier.scheduling import DrainSends, NotifierClock
from services.notifier.settings import NotifierSettings
from shared.app import ServiceApp, build_infrastructure, build_service_app, document_publications
from shared.background import WakeableLoop
from shared.clock import Clock, SystemClock
from shared.events import AlertEvent
from shared.housekeeping import Housekeeping
from shared.keys import derive_key
from shared.rota import RotaError, load_rota, safety_problems
from shared.settings import Environment
from shared.staff_auth import Staff, StaffAuth, staff_roles
from shared.topics import AGENDA, ALERTS, REFERRALS, TASKS

SERVICE = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"
LIMITER_KEY_PURPOSE = "notifier ack rate-limit keys v1"


def create_app(
    settings: NotifierSettings | None = None,
    clock: Clock | None = None,
    sender: Sender | None = None,
) -> ServiceApp:
    settings = settings or NotifierSettings()
    infra = build_infrastructure(SERVICE, settings, clock or SystemClock(), outbox)
    scheduler = WakeableLoop("notifier_clock", lambda: tick(), settings.dispatch_poll_seconds)
    # The sends alone: woken by a raised alert (its first messages) and by a finished send (a
    # freed slot); neither needs a rota reload, burst flush or step scan, which cost most of a
    # clock pass's CPU. Its own poll is slow on purpose: the clock's pass also delivers, every
    # dispatch_poll_seconds.
    dispatch = WakeableLoop("notifier_dispatch", lambda: ticker.dispatcher.deliver_due(), 60.0)
    rota = load_rota(settings.rota_file)
    if not settings.environment.is_local and (problems := safety_problems(rota)):
        raise RotaError(f"{settings.rota_file.name} is not fit for {settings.environment}: "
                        + "; ".join(problems))  # fmt: skip
    deps = NotifierDeps(
        engine=infra.engine,
        rota_book=RotaBook(rota, infra.engine),
        policy=load_policy(settings.alerting_file),
        sender=sender or ChannelSender(),
        clock=infra.clock,
        alerts_topic=settings.topic(ALERTS.name),
        public_url=settings.public_url.rstrip("/"),
        ack_secret=base64.b64decode(settings.ack_secret.get_secret_value()),
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        wake_scheduler=scheduler.wake,
        wake_outbox=functools.partial(infra.relay.wake_within, settings.outbox_linger_seconds),
        wake_dispatch=dispatch.wake,
        wake_scheduler_in=scheduler.wake_in,
        ack_code_ttl=timedelta(hours=settings.ack_code_hours),
        ack_limiter=AckLimiter(
            infra.engine,
            derive_key(settings.ack_key(), LIMITER_KEY_PURPOSE),
            AckLimits(
                window=timedelta(seconds=settings.ack_limit_window_seconds),
                per_client=settings.ack_failures_per_client,
                per_code=settings.ack_failures_per_code,
                global_failures=settings.ack_failures_global,
            ),
        ),
        metrics=NotifierMetrics.register(infra.metrics),
        tracing=infra.tracing,
    )
    infra.metrics.add_sampler("notifier", deps.metrics.sampler(infra.engine, infra.clock.now))
    ticker = NotifierClock(deps, scheduler.wake_in)
    ticker.dispatcher.wake_on_free_slot = dispatch.wake

    async def tick() -> None:
        # Leave and cover stored from the console (or by another notifier process) are read
        # before the pass that fires escalation steps: each step pages from the rota as it is.
        await deps.rota_book.refresh(deps.clock.now())
        await ticker.tick()

    document_publications(infra.broker, settings, [(ALERTS, AlertEvent)])
    heartbeats = HeartbeatMonitor(
        deps.sender, infra.clock, deps.policy, _heartbeat_targets(settings),
        HeartbeatMetrics.register(infra.metrics), HeartbeatStore(infra.engine),
    )  # fmt: skip
    infra.broker.include_router(
        build_router(
            deps,
            settings.topic(REFERRALS.name),
            settings.topic(TASKS.name),
            settings.topic(AGENDA.name),
            on_heartbeat=heartbeats.received,
        )
    )
    http_app = build_http_app(deps, _staff_auth(settings, deps))
    add_heartbeat_route(http_app, heartbeats)
    feeds = CalendarFeeds(
        {label: url.get_secret_value() for label, url in settings.rota_calendars.items()},
        deps.rota_book, infra.engine, infra.clock, timedelta(days=settings.rota_calendar_days),
    )  # fmt: skip
    calendar_imports = WakeableLoop(
        "rota_calendar_import", feeds.import_all, settings.rota_calendar_poll_seconds
    )
    calendar_imports.wake()  # the first import as soon as the notifier runs
    # Stopped in reverse: sends under way finish first, then the clock stops.
    return build_service_app(
        infra,
        http_app,
        MIGRATIONS,
        background=[
            heartbeats,
            Housekeeping.for_service(infra, outbox, processed_events),
            scheduler,
            dispatch,
            DrainSends(ticker.dispatcher),
            # Off unless calendar feeds are configured (NOTIFIER_ROTA_CALENDARS).
            *([calendar_imports] if settings.rota_calendars else []),
        ],
    )


def _heartbeat_targets(settings: NotifierSettings) -> HeartbeatTargets:
    return HeartbeatTargets(
        heartbeat_urls=tuple(url.get_secret_value() for url in settings.heartbeat_urls),
        operator_urls=tuple(url.get_secret_value() for url in settings.operator_urls),
        ping_url=settings.heartbeat_ping_url.get_secret_value()
        if settings.heartbeat_ping_url
        else None,
        stale_after=timedelta(seconds=settings.heartbeat_stale_seconds)
        if settings.heartbeat_stale_seconds
        else None,
        timeout_seconds=settings.heartbeat_timeout_seconds,
    )


def _staff_auth(settings: NotifierSettings, deps: NotifierDeps) -> StaffAuth:
    """Staff sign-in for the alert status API; static tokens by rota person in dev and test."""
    roles = {person.id: staff_roles(person.role) for person in deps.rota.people}
    static = {person: token.get_secret_value() for person, token in settings.staff_tokens.items()}
    if not static and settings.environment is Environment.DEV:
        static = {person: f"dev-{person}" for person in roles}
    return StaffAuth(
        settings.staff_oidc,
        static_tokens={
            token: Staff(person, roles.get(person, frozenset())) for person, token in static.items()
        },
        deployed=not settings.environment.is_local,
    )
