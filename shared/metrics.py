"""Prometheus metrics, one registry per service.

Tests run several services in one process, so no metric ever goes to prometheus_client's global
REGISTRY: each ServiceApp owns a `ServiceMetrics`, and its `GET /metrics` serves that registry only.

Label values come from bounded sets only (enums, topic base names, exception type names, group
names): a case reference, a person id or free text in a label would be personal data in every
scrape, every Prometheus block and every dashboard (docs DOMAIN.md), and an unbounded label is a
new time series per value. `bounded()` maps anything outside its set to "other".

Gauges that need the database or a Kafka round trip are refreshed by samplers run from one
background loop (`sampler_loop`), never inside a scrape: prometheus_client collects synchronously,
and a scrape must stay cheap however slow the database is.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from shared.background import WakeableLoop
from shared.logging import get_logger
from shared.topics import ALL_TOPICS

log = get_logger(__name__)

OTHER = "other"
EXPOSITION_CONTENT_TYPE = CONTENT_TYPE_LATEST
TOPIC_BASE_NAMES = frozenset(spec.name for spec in ALL_TOPICS)
SAMPLER_TIMEOUT_SECONDS = 10.0
# Python identifiers: exception type names and enum values; never a sentence.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")

Sampler = Callable[[], Awaitable[None]]
DeadLetterListener = Callable[[str, str], None]  # topic base name, reason


class Exposable(Protocol):
    """What GET /metrics serves: a service's registry, or the console's."""

    enabled: bool

    def exposition(self) -> bytes: ...


def bounded(value: str, allowed: Collection[str]) -> str:
    """`value` if it is one of `allowed`, else "other"."""
    return value if value in allowed else OTHER


def type_name(error: BaseException | type[BaseException] | str) -> str:
    """An exception's type name: bounded by the code base, never the message."""
    name = error if isinstance(error, str) else getattr(error, "__name__", type(error).__name__)
    return name if _NAME.fullmatch(name) else OTHER


class ServiceMetrics:
    """A service's registry with the metrics every service has; services add their own through
    `counter`/`gauge`/`histogram` and their database-backed gauges through `add_sampler`."""

    def __init__(self, service: str, *, topic_prefix: str = "", enabled: bool = True) -> None:
        self.service = service
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        self._topic_prefix = topic_prefix
        self._samplers: list[tuple[str, Sampler]] = []
        self._dead_letter_listeners: list[DeadLetterListener] = []
        self.dead_letters = self.counter(
            "safeguarding_dead_letters_total",
            "Records dead-lettered by this service, by source topic base name and exception type",
            ("topic", "reason"),
        )
        self.outbox_backlog_rows = self.gauge(
            "safeguarding_outbox_backlog_rows", "Outbox rows not yet published to Kafka"
        )
        self.outbox_oldest_age_seconds = self.gauge(
            "safeguarding_outbox_oldest_age_seconds",
            "Age of the oldest outbox row not yet published (0 when none is waiting)",
        )
        self.outbox_published = self.counter(
            "safeguarding_outbox_published_total",
            "Outbox rows published to Kafka and acknowledged, by topic base name",
            ("topic",),
        )
        self.consumer_lag = self.gauge(
            "safeguarding_consumer_lag",
            "Records on the partition not yet committed by the group (high-water mark minus "
            "committed offset)",
            ("group", "topic", "partition"),
        )

    # Registration -----------------------------------------------------------------------------

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, documentation, labelnames=tuple(labels), registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labelnames=tuple(labels), registry=self.registry)

    def histogram(
        self, name: str, documentation: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        return Histogram(
            name, documentation, labelnames=tuple(labels), buckets=buckets, registry=self.registry
        )

    def add_sampler(self, name: str, sampler: Sampler) -> None:
        """Run `sampler` on every pass of the sampler loop (it sets gauges from the database or
        the consumers)."""
        self._samplers.append((name, sampler))

    # Common figures ---------------------------------------------------------------------------

    def topic_base(self, topic: str) -> str:
        """The topic's name without the deployment's (or test's) prefix; "other" if unknown."""
        return bounded(topic.removeprefix(self._topic_prefix), TOPIC_BASE_NAMES)

    def on_dead_letter(self, listener: DeadLetterListener) -> None:
        """Also tell `listener` of every dead letter (intake counts its refused contacts)."""
        self._dead_letter_listeners.append(listener)

    def count_published(self, topics: Mapping[str, int]) -> None:
        """The relay's rows marked published, by full topic name (once, after the mark)."""
        for topic, rows in topics.items():
            self.outbox_published.labels(topic=self.topic_base(topic)).inc(rows)

    def count_dead_letter(self, source_topic: str, error_type: str) -> None:
        """Called once the dead letter is written, so a failed write (retried) is not counted."""
        topic, reason = self.topic_base(source_topic), type_name(error_type)
        self.dead_letters.labels(topic=topic, reason=reason).inc()
        for listener in self._dead_letter_listeners:
            listener(topic, reason)

    # Sampling and exposition ------------------------------------------------------------------

    async def sample(self) -> None:
        """One pass over every sampler; one that fails or hangs leaves its gauges as they were
        and does not stop the others."""
        for name, sampler in self._samplers:
            try:
                async with asyncio.timeout(SAMPLER_TIMEOUT_SECONDS):
                    await sampler()
            except Exception as error:  # noqa: BLE001 - a figure is stale, the service is not
                log.warning("metrics_sampler_failed", sampler=name, error_type=type_name(error))

    def sampler_loop(self, poll_seconds: float) -> WakeableLoop:
        return WakeableLoop("metrics_sampler", self.sample, poll_seconds)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
