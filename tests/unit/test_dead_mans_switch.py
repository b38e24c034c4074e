"""The dead-man's switch's decisions (services/notifier/dead_mans_switch.py) and the watchdog that
acts on them (services/notifier/heartbeat.py), on a clock moved by hand and a recording sender."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from services.notifier.dead_mans_switch import PageState, Watch, due_page
from services.notifier.heartbeat import HeartbeatMetrics, HeartbeatMonitor, HeartbeatTargets
from services.notifier.policy import load_policy
from services.notifier.ports import Attachment
from services.notifier.settings import NotifierSettings
from shared.clock import FixedClock
from shared.events import HeartbeatV1
from shared.metrics import ServiceMetrics
from tests.support.allow_list import allow_listed
from tests.support.signing import event_settings
from tests.support.system import TEST_SETTINGS_INTAKE
from tests.unit.builders import ROOT

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
STALE = timedelta(minutes=3)


def test_fresh_then_stale_pages_once_then_clears_once() -> None:
    watch = Watch(started_at=START)
    now = START + timedelta(minutes=1)
    watch = watch.heartbeat(now, now)
    assert due_page(watch, now + STALE, STALE) is None  # exactly at the threshold: not yet
    later = now + STALE + timedelta(seconds=1)
    page = due_page(watch, later, STALE)
    assert page is not None
    assert page.state is PageState.STALE
    assert page.quiet_since == now
    assert page.quiet_for == STALE + timedelta(seconds=1)
    watch = watch.paged(page)
    assert due_page(watch, later + timedelta(hours=5), STALE) is None  # one page per silence
    back = later + timedelta(minutes=10)
    watch = watch.heartbeat(back, back)
    cleared = due_page(watch, back, STALE)
    assert cleared is not None
    assert cleared.state is PageState.CLEARED
    assert cleared.quiet_for == back - now
    assert cleared.at == back
    watch = watch.paged(cleared)
    assert due_page(watch, back + timedelta(seconds=5), STALE) is None


def test_before_the_first_heartbeat_the_watch_counts_from_the_start() -> None:
    watch = Watch(started_at=START)
    assert due_page(watch, START + STALE, STALE) is None  # a restart does not page at once
    page = due_page(watch, START + STALE + timedelta(seconds=1), STALE)
    assert page is not None
    assert page.state is PageState.STALE
    assert page.quiet_since == START


def test_an_old_or_future_heartbeat_does_not_make_a_dead_emitter_look_alive() -> None:
    now = START + timedelta(minutes=10)
    watch = Watch(started_at=START).heartbeat(now, now)
    replayed = watch.heartbeat(START + timedelta(minutes=1), now + timedelta(minutes=5))
    assert replayed.last_end_to_end == now
    skewed = Watch(started_at=START).heartbeat(now + timedelta(hours=1), now)
    assert skewed.last_end_to_end == now  # never later than the notifier's now


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.accept = True

    async def send(
        self, url: str, title: str, body: str, attachments: tuple[Attachment, ...] = ()
    ) -> bool:
        self.sent.append((url, title, body))
        return self.accept

    def to(self, url: str) -> list[tuple[str, str, str]]:
        return [item for item in self.sent if item[0] == url]


def monitor(
    clock: FixedClock, sender: RecordingSender, operator: tuple[str, ...] = ("ops://1",)
) -> tuple[HeartbeatMonitor, ServiceMetrics]:
    metrics = ServiceMetrics("notifier")
    targets = HeartbeatTargets(("gw://heartbeat",), operator, None, STALE, 1.0)
    policy = load_policy(ROOT / "deploy" / "config" / "alerting.yaml")
    return HeartbeatMonitor(sender, clock, policy, targets, HeartbeatMetrics.register(metrics)), (
        metrics
    )


def beat(at: datetime, sequence: int = 0) -> HeartbeatV1:
    return HeartbeatV1(
        occurred_at=at, correlation_id=str(uuid.uuid4()), producer="intake", sequence=sequence
    )


def sample(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_the_watchdog_pages_the_operator_once_and_clears_once() -> None:
    clock, sender = FixedClock(START), RecordingSender()
    watchdog, metrics = monitor(clock, sender)
    pages = "safeguarding_heartbeat_operator_pages_total"
    gauge = "safeguarding_heartbeat_last_success_timestamp_seconds"
    assert sample(metrics, gauge) == 0

    clock.advance(timedelta(seconds=30))
    await watchdog.attempt(beat(clock.now()))
    assert len(sender.to("gw://heartbeat")) == 1
    assert sample(metrics, gauge) == clock.now().timestamp()
    assert watchdog.status() == (True, {
        "status": "ok", "last_end_to_end": "2026-12-02T09:00:30Z", "age_seconds": 0.0,
        "stale_after_seconds": 180.0,
    })  # fmt: skip

    sender.accept = False  # the gateway refuses: heartbeats stop going end to end
    clock.advance(timedelta(seconds=60))
    await watchdog.attempt(beat(clock.now(), 1))
    await watchdog.check()
    assert sender.to("ops://1") == []
    clock.advance(STALE)  # 4 min since the last success
    sender.accept = True  # the operator channel works (a gateway's refusal is the fault here)
    await watchdog.check()
    await watchdog.check()
    clock.advance(timedelta(minutes=30))
    await watchdog.check()
    [(_, title, body)] = sender.to("ops://1")
    assert title == "Safeguarding pipeline quiet"
    assert "no heartbeat end to end for 4 min since 09:00 02 Dec 2026" in body
    assert allow_listed(title)
    assert allow_listed(body)
    assert sample(metrics, pages, state="stale") == 1
    healthy, status = watchdog.status()
    assert not healthy
    assert status["status"] == "stale"

    await watchdog.attempt(beat(clock.now(), 2))
    await watchdog.check()
    await watchdog.check()
    assert [title for _, title, _ in sender.to("ops://1")] == [
        "Safeguarding pipeline quiet",
        "Safeguarding pipeline flowing again",
    ]
    assert "after 34 min quiet" in sender.to("ops://1")[1][2]
    assert sample(metrics, pages, state="cleared") == 1
    assert watchdog.status()[0]


async def test_a_page_nobody_received_is_sent_again() -> None:
    clock, sender = FixedClock(START), RecordingSender()
    watchdog, metrics = monitor(clock, sender)
    sender.accept = False
    clock.advance(STALE + timedelta(seconds=1))
    await watchdog.check()
    await watchdog.check()
    assert len(sender.to("ops://1")) == 2  # tried on each check while nobody has it
    assert sample(metrics, "safeguarding_heartbeat_operator_pages_total", state="stale") == 0
    sender.accept = True
    await watchdog.check()
    await watchdog.check()
    assert len(sender.to("ops://1")) == 3
    assert sample(metrics, "safeguarding_heartbeat_operator_pages_total", state="stale") == 1
    healthy, status = watchdog.status()
    assert not healthy
    assert status["status"] == "waiting"
    assert status["last_end_to_end"] is None


DEPLOYED: dict[str, Any] = {
    "SAFEGUARDING_ENV": "production", "database_url": "postgresql+asyncpg://u:p@db/x",
    "KAFKA_SECURITY": "ssl", "staff_oidc": {"issuer": "https://login.example.org/realms/s"},
}  # fmt: skip
NOTIFIER: dict[str, Any] = {
    **DEPLOYED, **event_settings("notifier"), "public_url": "https://alerts.example.org",
    "ack_secret": "dGVzdC1vbmx5LWFjay1saW5rLXNlY3JldC0wMDAwMDA=",
    "heartbeat_urls": ["jsons://sms.example.org/heartbeat"],
    "operator_urls": ["mailtos://ops:pw@smtp.ops.example.net?to=oncall@example.net"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"operator_urls": []}, "NOTIFIER_OPERATOR_URLS: the watchdog needs an operator channel"),
        ({"heartbeat_urls": []}, "NOTIFIER_HEARTBEAT_URLS: a heartbeat must reach the SMS"),
        ({"heartbeat_stale_seconds": 0}, "turns the watchdog off: dev and test only"),
        ({"operator_urls": ["mailto://127.0.0.1:1025?to=ops@x&mode=insecure"]},
         r"NOTIFIER_OPERATOR_URLS\[0\]: mode=insecure"),
        ({"heartbeat_ping_url": "http://hc.example.org/ping/x"}, "PING_URL must be https"),
    ],
)  # fmt: skip
def test_deployed_the_notifier_refuses_a_switch_that_cannot_page_anyone(
    change: dict[str, Any], refusal: str
) -> None:
    assert NotifierSettings(**NOTIFIER)
    with pytest.raises(ValidationError, match=refusal) as refused:
        NotifierSettings(**NOTIFIER | change)
    assert "pw@smtp" not in str(refused.value)  # the URL holds credentials: never echoed


def test_the_heartbeat_is_off_in_dev_and_test_only() -> None:
    testing = IntakeSettings(
        SAFEGUARDING_ENV="test", **TEST_SETTINGS_INTAKE | {"heartbeat_seconds": 0}
    )
    assert testing.heartbeat_seconds == 0
    assert NotifierSettings(SAFEGUARDING_ENV="dev").heartbeat_stale_seconds == 180
    with pytest.raises(ValidationError, match="INTAKE_HEARTBEAT_SECONDS=0 turns the dead-man"):
        IntakeSettings(**DEPLOYED, **event_settings("intake"), heartbeat_seconds=0)
