"""The dead-man's switch, the notifier's half: each heartbeat from the referrals topic is one
delivery attempt through the same Sender as an alert, to the gateway's heartbeat target (never a
person; no alert or notification rows). The time of the last one that went end to end is kept,
exported (gauge, `GET /heartbeat`, an optional push to a monitor outside the system), and watched:
when it is older than the threshold the operator is paged once, through channels that do not
depend on the people's, and once more when heartbeats go through again.

The watch is kept in memory and, in the service, shared through the database
(services/notifier/heartbeat_store.py): heartbeats reach only one of several notifier instances,
and each instance takes from the database the last heartbeat any of them passed on and whether a
page is out, so none pages a silence that is not there and a silence is paged once (twice if
two instances decide within the same send; never none). After a
restart the watch counts from the start (services/notifier/dead_mans_switch.py): a heartbeat
stored before it does not count, so a restart neither pages at once nor hides a dead pipeline
for longer than the threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx
from prometheus_client import Counter, Gauge

from services.notifier.dead_mans_switch import PageState, Watch, due_page
from services.notifier.domain import render_message
from services.notifier.heartbeat_store import HeartbeatStore
from services.notifier.policy import AlertingPolicy, TemplateKind
from services.notifier.ports import Sender
from shared.api_times import utc_text
from shared.background import WakeableLoop
from shared.clock import LONDON, Clock
from shared.events import HeartbeatV1
from shared.logging import get_logger
from shared.metrics import ServiceMetrics
from shared.rota import ChannelKind

log = get_logger(__name__)

TEMPLATES: dict[PageState, TemplateKind] = {
    PageState.STALE: "pipeline_quiet",
    PageState.CLEARED: "pipeline_cleared",
}
MAX_COUNT = 9999  # the allow-listed {count} has at most four digits


@dataclass(frozen=True)
class HeartbeatTargets:
    """Where heartbeats and pages go (apprise URLs, credentials inside: never logged)."""

    heartbeat_urls: tuple[str, ...]  # empty (dev and test): a heartbeat ends at the notifier
    operator_urls: tuple[str, ...]  # empty (dev and test): a page is only logged
    ping_url: str | None
    stale_after: timedelta | None  # None: the watchdog is off (dev and test)
    timeout_seconds: float


@dataclass(frozen=True)
class HeartbeatMetrics:
    last_success: Gauge
    pages: Counter

    @classmethod
    def register(cls, metrics: ServiceMetrics) -> HeartbeatMetrics:
        return cls(
            metrics.gauge(
                "safeguarding_heartbeat_last_success_timestamp_seconds",
                "Unix time of the last heartbeat that went end to end (0 before the first)",
            ),
            metrics.counter(
                "safeguarding_heartbeat_operator_pages_total",
                "Pages sent to the operator by the dead-man's switch, by state (stale, cleared)",
                ("state",),
            ),
        )


class HeartbeatMonitor:
    def __init__(
        self,
        sender: Sender,
        clock: Clock,
        policy: AlertingPolicy,
        targets: HeartbeatTargets,
        metrics: HeartbeatMetrics,
        store: HeartbeatStore | None = None,
    ) -> None:
        self._sender, self._clock, self._policy = sender, clock, policy
        self._targets, self._metrics, self._store = targets, metrics, store
        self.watch = Watch(started_at=clock.now())
        self._attempt: asyncio.Task[None] | None = None
        stale = targets.stale_after.total_seconds() if targets.stale_after else 60.0
        # A few checks per threshold: a page goes out at most this late after the threshold.
        self._loop = WakeableLoop("heartbeat_watchdog", self.check, min(max(stale / 8, 0.2), 15.0))

    # A heartbeat arrives ------------------------------------------------------------------------

    def received(self, heartbeat: HeartbeatV1) -> None:
        """Called by the subscriber: the attempt runs beside it, so a slow or hanging gateway never
        holds up the referrals behind the heartbeat. One attempt at a time; a heartbeat that comes
        while one is under way is dropped (the next one will tell)."""
        if self._attempt is not None and not self._attempt.done():
            return
        self._attempt = asyncio.create_task(self.attempt(heartbeat), name="heartbeat_attempt")

    async def attempt(self, heartbeat: HeartbeatV1) -> None:
        title, body = self._render("heartbeat", 0, heartbeat.occurred_at)
        results = [await self._send(url, title, body) for url in self._targets.heartbeat_urls]
        if not all(results):
            log.warning("heartbeat_not_delivered", sequence=heartbeat.sequence)
            return
        self.watch = self.watch.heartbeat(heartbeat.occurred_at, self._clock.now())
        if self.watch.last_end_to_end is not None:
            self._metrics.last_success.set(self.watch.last_end_to_end.timestamp())
            if self._store is not None:
                try:
                    await self._store.went_through(self.watch.last_end_to_end)
                except Exception as error:  # noqa: BLE001 - the next heartbeat stores it again
                    log.warning("heartbeat_not_stored", error_type=type(error).__name__)
        self._loop.wake()  # a "cleared" page goes now, not at the next check
        if self._targets.ping_url:
            await self._ping(self._targets.ping_url)

    async def _ping(self, url: str) -> None:
        """Tell the monitor outside the system; its failure is logged, never raised (that monitor
        pages on its own when our pings stop)."""
        try:
            async with httpx.AsyncClient(timeout=self._targets.timeout_seconds) as client:
                response = await client.get(url)
                response.raise_for_status()
        except httpx.HTTPError as error:
            log.warning("heartbeat_ping_failed", error_type=type(error).__name__)

    # The watchdog -------------------------------------------------------------------------------

    async def check(self) -> None:
        if self._store is not None:
            await self._share(self._store)
        if self._targets.stale_after is None:
            return
        page = due_page(self.watch, self._clock.now(), self._targets.stale_after)
        if page is None:
            return
        paged = self.watch.paged(page)
        minutes = min(round(page.quiet_for / timedelta(minutes=1)), MAX_COUNT)
        at = page.quiet_since if page.state is PageState.STALE else page.at
        title, body = self._render(TEMPLATES[page.state], minutes, at)
        log.warning("heartbeat_operator_page", state=page.state.value, quiet_minutes=minutes)
        if self._targets.operator_urls:
            results = [await self._send(url, title, body) for url in self._targets.operator_urls]
            if not any(results):
                # Due again at the next check: a page nobody received is no page.
                log.error("heartbeat_operator_page_failed", state=page.state.value)
                return
            self._metrics.pages.labels(state=page.state.value).inc()
        # Recorded after it went, not claimed before: a notifier dying between a claim and the
        # send would leave a silence nobody is told of. The price: two notifiers deciding within
        # the same few seconds (one send) both page.
        if self._store is not None:
            await self._record(self._store, paged)
        self.watch = paged  # without operator URLs (dev and test) the page is only logged

    async def _record(self, store: HeartbeatStore, paged: Watch) -> None:
        try:
            if not await store.claim(self.watch.quiet_since, paged.quiet_since):
                log.info("heartbeat_page_also_sent_by_another_instance")
        except Exception as error:  # noqa: BLE001 - the in-memory watch still knows it went
            log.warning("heartbeat_page_not_stored", error_type=type(error).__name__)

    async def _share(self, store: HeartbeatStore) -> None:
        """Take what the other instances did: a heartbeat any of them passed on since this one
        started, and whether a page is out. With the database unreachable the watch goes on
        from what this instance knows: a database outage must not silence the watchdog."""
        try:
            last, quiet_since = await store.read()
        except Exception as error:  # noqa: BLE001 - see above
            log.warning("heartbeat_watch_not_read", error_type=type(error).__name__)
            return
        if last is not None and last > self.watch.started_at:
            self.watch = self.watch.heartbeat(last, self._clock.now())
            if self.watch.last_end_to_end is not None:
                self._metrics.last_success.set(self.watch.last_end_to_end.timestamp())
        self.watch = replace(self.watch, quiet_since=quiet_since)

    def status(self) -> tuple[bool, dict[str, object]]:
        """(healthy, the body of GET /heartbeat): one timestamp, no personal data."""
        now = self._clock.now()
        last = self.watch.last_end_to_end
        stale_after = self._targets.stale_after
        stale = stale_after is not None and self.watch.stale(now, stale_after)
        state = ("stale" if stale else "ok") if last is not None else "waiting"
        return not stale, {
            "status": state,
            "last_end_to_end": utc_text(last) if last is not None else None,
            "age_seconds": round(self.watch.age(now).total_seconds(), 3),
            "stale_after_seconds": stale_after.total_seconds() if stale_after else 0,
        }

    # Background job ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._attempt is not None:
            self._attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._attempt

    # Helpers ------------------------------------------------------------------------------------

    def _render(self, kind: TemplateKind, count: int, at: datetime) -> tuple[str, str]:
        """From the allow-listed templates (deploy/config/alerting.yaml): the short form, which
        fits an SMS, whatever the channel."""
        fields = {"count": str(count), "time": at.astimezone(LONDON).strftime("%H:%M %d %b %Y")}
        message = render_message(self._policy.templates[kind], fields, ChannelKind.SMS)
        return message.title, message.body

    async def _send(self, url: str, title: str, body: str) -> bool:
        try:
            async with asyncio.timeout(self._targets.timeout_seconds):
                return await self._sender.send(url, title, body)
        except Exception as error:  # noqa: BLE001 - a failed attempt is the signal, not a crash
            log.warning("heartbeat_send_failed", error_type=type(error).__name__)
            return False
