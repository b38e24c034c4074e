"""The pieces each service's composition root (`services/<name>/main.py`) assembles."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send

from shared import working_days
from shared.clock import Clock
from shared.db import create_engine, migrate
from shared.event_signing import EventSigner
from shared.events import DeadLetterV1
from shared.http_guards import LocalClientsOnly, RefuseNulCharacters, SecurityHeaders
from shared.instance_lock import InstanceLock, instance_mode
from shared.kafka import (
    check_producer_safety,
    create_broker,
    security_from,
    signature_middleware,
    used_topics,
    verify_topics,
)
from shared.logging import configure_logging, get_logger, route_library_loggers
from shared.metric_samplers import consumer_lag_sampler, outbox_sampler
from shared.metrics import EXPOSITION_CONTENT_TYPE, Exposable, ServiceMetrics
from shared.offset_commits import OffsetCommits, offset_commit_middleware
from shared.outbox import OutboxRelay
from shared.partition_batches import partition_batches
from shared.problems import document_problems, install_problem_handlers, problem_response
from shared.reliability import RetryPolicy, dead_letter_middleware
from shared.replay import ReplayCheck
from shared.settings import Environment, ServiceSettings
from shared.startup_heap import freeze_startup_heap
from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, TopicSpec
from shared.tracing import Tracing, build_tracing, trace_headers

log = get_logger(__name__)


class ServiceApp(AsgiFastStream):
    """FastStream's ASGI app matches exact paths only; every other HTTP request goes to the
    service's FastAPI app, so one process serves the broker, health checks and the HTTP API."""

    def __init__(
        self,
        broker: KafkaBroker,
        http_app: FastAPI,
        tracing: Tracing | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(broker, **kwargs)
        self.kafka_broker = broker  # typed, unlike FastStream's generic `broker`
        self.http_app = http_app
        # Tests add an in-memory exporter here (tracing.add_span_processor) before starting.
        self.tracing = tracing or Tracing("", None)

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http_app(scope, receive, send)
            return
        await super().not_found(scope, receive, send)


def build_broker(
    service: str,
    settings: ServiceSettings,
    clock: Clock,
    signer: EventSigner,
    metrics: ServiceMetrics,
    tracing: Tracing | None = None,
    commits: OffsetCommits | None = None,
) -> KafkaBroker:
    """A broker whose producer is acks=all + idempotent and whose subscribers check each record's
    signature, retry, then dead-letter. The dead-letter sink publishes, signed, with the same
    broker."""
    dead_letter_topic = settings.topic(DEAD_LETTERS.name)

    async def sink(letter: DeadLetterV1) -> None:
        await publish_bytes(
            broker, signer, dead_letter_topic, letter.source_topic.encode(),
            letter.model_dump_json().encode(), letter.correlation_id or None,
        )  # fmt: skip

    # Outermost when metrics are on: FastStream's metrics then count each record once as it
    # arrives (not once per retry), time it with its retries, and record the outcome the
    # dead-letter middleware settled on (acked after a dead letter, which our own
    # safeguarding_dead_letters_total counts; an error only when the record will be read again).
    observed = (
        [KafkaPrometheusMiddleware(registry=metrics.registry, app_name=service)]
        if metrics.enabled
        else []
    )

    def counted(letter: DeadLetterV1) -> None:
        metrics.count_dead_letter(letter.source_topic, letter.error_type)

    broker = create_broker(
        settings.kafka_bootstrap_servers,
        client_id=service,
        security=security_from(settings),
        # The first middleware is the outermost: a forged event (ForgedEvent, permanent) raised by
        # the signature check is dead-lettered with its reason, never retried, never handled.
        middlewares=[
            # Tracing outermost of all: its consumer span is current for everything below, so
            # the metrics middleware, retries, a dead letter's publish, the handler and their log
            # lines all belong to the record's trace.
            *(tracing.broker_middlewares() if tracing is not None else []),
            *observed,
            # Acknowledgements (after the dead-letter middleware settled a record) commit
            # once per window (shared/offset_commits.py).
            *([offset_commit_middleware(commits)] if commits is not None else []),
            dead_letter_middleware(
                consumer=service,
                policy=RetryPolicy(
                    settings.consumer_max_attempts, settings.consumer_retry_backoff_seconds
                ),
                sink=sink,
                clock=clock,
                # A replayed copy is handled only when its own dead letter vouches for it.
                replays=ReplayCheck(service, settings.event_verifier(), dead_letter_topic),
                counted=counted,
            ),
            signature_middleware(
                settings.event_verifier(),
                frozenset({settings.topic(POLICE_CONTACTS.name)}),
            ),
        ],
    )
    return broker


def document_publications(
    broker: KafkaBroker, settings: ServiceSettings, publications: Sequence[tuple[TopicSpec, Any]]
) -> None:
    """Declare what the service publishes, with each topic's event schema, so FastStream's AsyncAPI
    shows it. The outbox relay publishes the bytes; these declarations are its contract."""
    for spec, schema in publications:
        broker.publisher(
            settings.topic(spec.name), title=spec.name, description=spec.description, schema=schema
        )


def add_health_routes(http_app: FastAPI, broker: KafkaBroker, engine: AsyncEngine) -> None:
    @http_app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @http_app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: Kafka and the database answer",
        responses={
            503: {
                "description": "Not ready: the same body, naming what is unreachable",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                },
            }
        },
    )
    async def readyz(response: Response) -> dict[str, str]:
        checks = {"kafka": "ok", "database": "ok"}
        if not await broker.ping(timeout=2.0):
            checks["kafka"] = "unreachable"
        try:
            async with engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means not ready
            checks["database"] = "unreachable"
        ready = all(value == "ok" for value in checks.values())
        response.status_code = 200 if ready else 503
        return {"status": "ready" if ready else "not ready", **checks}


def add_metrics_route(
    http_app: FastAPI,
    metrics: Exposable,
    token: SecretStr | None,
    environment: Environment,
) -> None:
    """`GET /metrics`: open in dev and test (loopback clients only, LocalClientsOnly); elsewhere
    only with `Authorization: Bearer <METRICS_TOKEN>`, and absent (404) when no token is set or
    metrics are off, so a deployment never serves its figures to whoever asks."""
    if not metrics.enabled or (token is None and not environment.is_local):
        return
    expected = f"Bearer {token.get_secret_value()}".encode() if token is not None else None

    @http_app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        if not environment.is_local:
            given = request.headers.get("authorization", "").encode()
            # Constant time: the comparison must not tell a guesser how much of it was right.
            if expected is None or not hmac.compare_digest(given, expected):
                return problem_response(401, headers={"WWW-Authenticate": "Bearer"})
        return Response(metrics.exposition(), media_type=EXPOSITION_CONTENT_TYPE)


async def publish_bytes(
    broker: KafkaBroker,
    signer: EventSigner,
    topic: str,
    key: bytes,
    value: bytes,
    correlation_id: str | None,
) -> None:
    acknowledgement = await send_bytes(broker, signer, topic, key, value, correlation_id)
    if acknowledgement is not None:
        await acknowledgement


async def send_bytes(
    broker: KafkaBroker,
    signer: EventSigner,
    topic: str,
    key: bytes,
    value: bytes,
    correlation_id: str | None,
) -> Awaitable[object] | None:
    """Hand a signed record to the producer; returns its acknowledgement (acks=all) to await,
    without waiting for it, so a caller can have many records in flight (the outbox relay).
    None from FastStream's in-memory broker, which delivers the record before it returns."""
    sent: Awaitable[object] | None = await broker.publish(
        value,
        topic=topic,
        key=key,
        correlation_id=correlation_id,
        # The trace headers are outside the signature (it covers topic, key and value): they
        # steer only which trace the consumer's span joins, never what the consumer does.
        headers={
            "content-type": "application/json",
            **trace_headers(),
            **signer.headers(topic, key, value),
        },
        no_confirm=True,
    )
    return sent


class Background(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> object: ...  # a WakeableLoop says whether work is owed


@dataclass(frozen=True)
class Infrastructure:
    """What every service's composition root starts from."""

    service: str
    settings: ServiceSettings
    clock: Clock
    engine: AsyncEngine
    broker: KafkaBroker
    relay: OutboxRelay
    metrics: ServiceMetrics
    tracing: Tracing = field(default_factory=lambda: Tracing("", None))
    commits: OffsetCommits = field(default_factory=lambda: OffsetCommits(0.0))


def build_infrastructure(
    service: str, settings: ServiceSettings, clock: Clock, outbox: sa.Table
) -> Infrastructure:
    configure_logging(service, settings.log_level, console=settings.console_logs())
    engine = create_engine(settings.database_url)
    signer = settings.event_signer(service)
    metrics = ServiceMetrics(
        service, topic_prefix=settings.topic_prefix, enabled=settings.metrics_enabled
    )
    tracing = build_tracing(service, settings.tracing_enabled, settings.otlp_traces_url())
    commits = OffsetCommits(settings.offset_commit_window_seconds)
    broker = build_broker(service, settings, clock, signer, metrics, tracing, commits)
    document_publications(broker, settings, [(DEAD_LETTERS, DeadLetterV1)])

    async def publish(
        topic: str, key: bytes, value: bytes, correlation_id: str
    ) -> Awaitable[object] | None:
        return await send_bytes(broker, signer, topic, key, value, correlation_id)

    relay = OutboxRelay(
        engine, outbox, publish, clock.now, settings.outbox_poll_seconds, tracing=tracing,
        lock_name=f"{service} outbox relay", hand_over=partition_batches(broker, signer),
        counted=metrics.count_published,
    )  # fmt: skip
    metrics.add_sampler("outbox", outbox_sampler(metrics, engine, outbox, clock.now))
    metrics.add_sampler("consumer_lag", consumer_lag_sampler(metrics, broker))
    return Infrastructure(
        service, settings, clock, engine, broker, relay, metrics=metrics, tracing=tracing,
        commits=commits,
    )  # fmt: skip


def build_service_app(
    infra: Infrastructure,
    http_app: FastAPI,
    migrations: Path,
    background: Sequence[Background] = (),
) -> ServiceApp:
    """Startup order: topics exist, schema migrated, Kafka connected (all before uvicorn reports
    startup complete, so a failure stops the process); then the subscribers, then background jobs."""
    add_health_routes(http_app, infra.broker, infra.engine)
    add_metrics_route(
        http_app, infra.metrics, infra.settings.metrics_token, infra.settings.environment
    )
    infra.tracing.instrument(http_app)
    # One error body (RFC 9457) for every refusal, and documents that say so.
    install_problem_handlers(http_app)
    document_problems(http_app)
    http_app.add_middleware(RefuseNulCharacters)
    http_app.add_middleware(SecurityHeaders)
    if infra.settings.environment.is_local:
        http_app.add_middleware(LocalClientsOnly)  # added last: runs first
    jobs: list[Background] = [infra.relay, *background]
    if infra.metrics.enabled:
        jobs.append(infra.metrics.sampler_loop(infra.settings.metrics_sample_seconds))
    # SQLite: one process per database file, refused at start-up (shared/instance_lock.py).
    instance = InstanceLock(infra.service, infra.settings.database_url)

    async def prepare() -> None:
        route_library_loggers()
        instance.acquire()
        log.info(
            "instances", mode=instance_mode(infra.settings.database_url),
            lock_file=str(instance.path) if instance.path else None,
        )  # fmt: skip
        try:
            await connect()
        except BaseException:
            instance.release()  # a start that failed leaves the database free for the next
            raise

    async def connect() -> None:
        working_days.warm_up(infra.clock.now().date())
        settings = infra.settings
        if settings.verify_topics_on_start:
            await verify_topics(
                settings.kafka_bootstrap_servers,
                # Its own topics only: with ACLs a service sees no other (kafka-security.md).
                used_topics(infra.broker),
                security_from(settings),
            )
        await migrate(infra.engine, migrations, version_table=f"alembic_version_{infra.service}")
        # FastStream starts the broker after uvicorn's "startup complete"; a failure there would
        # leave the HTTP side serving without Kafka, so connect now.
        await infra.broker.connect()
        if settings.verify_topics_on_start:  # off only with FastStream's in-memory broker
            check_producer_safety(infra.broker)

    async def start_jobs() -> None:
        # Started: what start-up made stays for the process's life; full collections stop
        # walking it (80-356 ms each at start-up, 380 ms during a drawing; shared/startup_heap.py).
        freeze_startup_heap()
        for job in jobs:
            await job.start()

    async def shutdown() -> None:
        # Before FastStream stops the broker: what was handled is committed while the consumers
        # are still open, and a handler finishing during the stop commits its record at once.
        await infra.commits.drain()
        for job in reversed(jobs):
            await job.stop()
        await infra.engine.dispose()
        instance.release()

    async def flush_traces() -> None:
        # After the broker stopped, so the last consumers' spans are exported too; in a thread,
        # as an exporter's final flush is a blocking HTTP call.
        await asyncio.to_thread(infra.tracing.shutdown)

    return ServiceApp(
        infra.broker,
        http_app,
        tracing=infra.tracing,
        on_startup=[prepare],
        after_startup=[start_jobs],
        on_shutdown=[shutdown],
        after_shutdown=[flush_traces],
    )
