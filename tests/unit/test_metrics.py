"""Metrics: one registry per service, /metrics access by environment, bounded label values."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from services.casework.metrics import CaseworkMetrics
from services.intake.handlers import Outcome
from services.intake.metrics import OUTCOMES, IntakeMetrics
from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.metrics import SchedulerMetrics
from services.meeting_scheduler.settings import SchedulerSettings
from services.notifier.metrics import NotifierMetrics
from shared.app import ServiceApp
from shared.metrics import ServiceMetrics
from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support import system
from tests.unit.test_safe_by_default import fit_production

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-this-test-only-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_each_service_has_its_own_registry() -> None:
    # The same names in two registries: with prometheus_client's global REGISTRY the second
    # registration would raise, and two in-process services would count into one another.
    intake, notifier = ServiceMetrics("intake"), ServiceMetrics("notifier")
    IntakeMetrics.register(intake)
    NotifierMetrics.register(notifier)
    intake.count_dead_letter(POLICE_CONTACTS.name, "ValidationError")

    ours = samples(intake.exposition().decode())
    theirs = samples(notifier.exposition().decode())
    key = (
        "safeguarding_dead_letters_total",
        (("reason", "ValidationError"), ("topic", POLICE_CONTACTS.name)),
    )
    assert ours[key] == 1
    assert key not in theirs
    assert ("safeguarding_alerts_raised_total", (("urgency", "immediate"),)) in theirs
    assert not any(name.startswith("safeguarding_alerts") for name, _ in ours)


def test_label_values_come_from_bounded_sets_only() -> None:
    metrics = ServiceMetrics("notifier", topic_prefix="t0123.")
    notifier = NotifierMetrics.register(metrics)
    metrics.count_dead_letter(f"t0123.{REFERRALS.name}", "PermanentError")
    metrics.count_dead_letter("t0123.SAF-2026-0001 someone's case", "a reason with free text")
    notifier.raised("SAF-2026-0001")
    notifier.step_fired(10_000)
    notifier.attempted("jane@example.org", True, 0.1)
    notifier.acknowledged("a person", "immediate", datetime.now(UTC), datetime.now(UTC))

    found = samples(metrics.exposition().decode())
    values = {value for _, labels in found for _, value in labels}
    assert (
        found[
            (
                "safeguarding_dead_letters_total",
                (("reason", "PermanentError"), ("topic", REFERRALS.name)),
            )
        ]
        == 1
    )
    assert (
        found[("safeguarding_dead_letters_total", (("reason", "other"), ("topic", "other")))] == 1
    )
    assert found[("safeguarding_alerts_raised_total", (("urgency", "other"),))] == 1
    assert found[("safeguarding_escalation_steps_total", (("step", "other"),))] == 1
    assert found[("safeguarding_alerts_acknowledged_total", (("via", "other"),))] == 1
    for leaked in ("SAF-2026-0001", "jane@example.org", "a person", "10000", "free text"):
        assert not any(leaked in value for value in values), leaked


def test_intake_counts_every_outcome_and_refused_ingress_records() -> None:
    assert set(OUTCOMES) == {outcome.value for outcome in Outcome} | {"refused"}
    metrics = ServiceMetrics("intake", topic_prefix="p.")
    intake = IntakeMetrics.register(metrics)
    intake.received(Outcome.OPENED)
    metrics.count_dead_letter(f"p.{POLICE_CONTACTS.name}", "UnsignedContact")
    metrics.count_dead_letter(f"p.{DEAD_LETTERS.name}", "ValidationError")  # not a contact

    found = samples(metrics.exposition().decode())
    counts = {
        dict(labels)["outcome"]: value
        for (name, labels), value in found.items()
        if name == "safeguarding_contacts_received_total"
    }
    assert counts == {"opened": 1, "updated": 0, "replayed": 0, "refused": 1}


def test_casework_and_scheduler_bound_kinds_and_series() -> None:
    metrics = ServiceMetrics("casework")
    casework = CaseworkMetrics.register(metrics, {"first_contact", "healthcare"})
    casework.opened(["first_contact", "made-up kind"])
    scheduler_metrics = ServiceMetrics("meeting_scheduler")
    SchedulerMetrics.register(scheduler_metrics, {"case-panel"}).added("not a series")

    found = samples(metrics.exposition().decode())
    assert found[("safeguarding_tasks_opened_total", (("kind", "first_contact"),))] == 1
    assert found[("safeguarding_tasks_opened_total", (("kind", "other"),))] == 1
    assert found[("safeguarding_tasks_opened_total", (("kind", "healthcare"),))] == 0
    agenda = samples(scheduler_metrics.exposition().decode())
    assert agenda[("safeguarding_agenda_items_total", (("series", "other"),))] == 1
    assert agenda[("safeguarding_agenda_items_total", (("series", "case-panel"),))] == 0


async def metrics_status(app: ServiceApp, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app.http_app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
        response = await http.get("/metrics", headers=headers or {})
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("text/plain")
        assert "safeguarding_dead_letters_total" in response.text
    return response.status_code


def has_kafka_metrics(app: ServiceApp) -> bool:
    return any(
        isinstance(middleware, KafkaPrometheusMiddleware)
        for middleware in app.kafka_broker.middlewares
    )


def scheduler_in_test(tmp_path: Path, **settings: Any) -> ServiceApp:
    url = f"sqlite+aiosqlite:///{tmp_path}/scheduler.sqlite3"
    return create_scheduler(
        SchedulerSettings(
            **system.common("127.0.0.1:9", "p.", url), **system.TEST_SETTINGS_MEETINGS, **settings
        )
    )


async def test_metrics_are_open_in_test_and_off_when_disabled(tmp_path: Path) -> None:
    on = scheduler_in_test(tmp_path)
    assert await metrics_status(on) == 200
    assert has_kafka_metrics(on)

    off = scheduler_in_test(tmp_path, metrics_enabled=False)
    assert await metrics_status(off) == 404
    assert not has_kafka_metrics(off)


async def test_production_needs_the_metrics_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fit_production(monkeypatch, tmp_path)
    monkeypatch.chdir(ROOT)  # the default calendar path is relative

    without_token = create_scheduler(SchedulerSettings())
    assert await metrics_status(without_token) == 404
    assert await metrics_status(without_token, {"Authorization": f"Bearer {TOKEN}"}) == 404

    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    guarded = create_scheduler(SchedulerSettings())
    assert await metrics_status(guarded) == 401
    assert await metrics_status(guarded, {"Authorization": "Bearer wrong-token"}) == 401
    assert await metrics_status(guarded, {"Authorization": f"Bearer {TOKEN}x"}) == 401
    assert await metrics_status(guarded, {"Authorization": TOKEN}) == 401
    assert await metrics_status(guarded, {"Authorization": f"Bearer {TOKEN}"}) == 200


def test_a_short_metrics_token_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fit_production(monkeypatch, tmp_path)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("METRICS_TOKEN", "short")
    with pytest.raises(ValidationError, match="METRICS_TOKEN") as refused:
        SchedulerSettings()
    assert "short" not in str(refused.value).replace("METRICS_TOKEN", "")
