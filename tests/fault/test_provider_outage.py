"""The SMS/voice gateway and the mail server both refuse everything for a minute while referrals
arrive: alerts are delayed, never lost, and escalation keeps to its schedule meanwhile. When the
providers are back, every notification the policy called for is delivered (on the person's
fallback channel where the first one gave up)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from services.notifier.adapters.tables import (
    alerts,
    delivery_attempts,
    escalation_steps,
    notifications,
)
from tests.fault.conftest import Sinks, generator, report, settled
from tests.support.ground_truth import summary, unacknowledged_owed
from tests.support.live import LiveSystem
from tests.support.waiting import eventually

pytestmark = pytest.mark.fault

OUTAGE_SECONDS = 60.0
# The test policy (tests/support/notifier.write_policy): steps 1, 2 and 3 fall due 20, 40 and 60 s
# after the alert is raised, no repeats. Alerts are raised during the outage, so steps 1 and 2 of
# most fall due inside it, and step 3 of every one after it.
STEP_SECONDS = 20.0
STEPS = (1, 2, 3)
LATE_SECONDS = 10.0  # a step fires within this of its time (the notifier looks every 0.2 s)
CONTACTS, RATE = 30, 2.0


@dataclass(frozen=True)
class Fired:
    raised_at: datetime
    step: int
    fired_at: datetime | None

    @property
    def due(self) -> datetime:
        """When the test policy says the step falls due (not the notifier's own due_at)."""
        return self.raised_at + timedelta(seconds=self.step * STEP_SECONDS)


async def notifier_state(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            steps = (
                await connection.execute(
                    sa.select(
                        alerts.c.alert_id, alerts.c.raised_at, escalation_steps.c.step,
                        escalation_steps.c.status, escalation_steps.c.fired_at,
                    )
                    .join(escalation_steps, escalation_steps.c.alert_id == alerts.c.alert_id)
                    .where(alerts.c.kind == "referral", escalation_steps.c.step > 0)
                )
            ).all()  # fmt: skip
            rows = (await connection.execute(sa.select(notifications))).all()
            delivered_attempts = (
                await connection.execute(
                    sa.select(sa.func.count())
                    .select_from(delivery_attempts)
                    .where(delivery_attempts.c.outcome == "delivered")
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    wanted = {(r.alert_id, r.step, r.person_id) for r in rows}
    delivered = {(r.alert_id, r.step, r.person_id) for r in rows if r.status == "delivered"}
    schedule: dict[str, list[Fired]] = {}
    for row in steps:
        fired_at = row.fired_at if row.status == "fired" else None
        schedule.setdefault(row.alert_id, []).append(Fired(row.raised_at, row.step, fired_at))
    return {
        "schedule": schedule,  # referral alert → its steps after the first
        "steps pending": sum(r.status == "pending" for r in steps),
        "notifications wanted": len(wanted),
        "undelivered": len(wanted - delivered),
        "pending": sum(r.status == "pending" for r in rows),
        "delivered": sum(r.status == "delivered" for r in rows),
        "delivered at": [r.delivered_at for r in rows if r.status == "delivered"],
        "delivered attempts": delivered_attempts,
        "fell back": sum(r.status == "failed" for r in rows),
    }


async def test_a_minute_without_providers_delays_alerts_but_loses_none(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    sinks: Sinks,
    service_databases: dict[str, str],
    database_kind: str,
) -> None:
    url = service_databases["notifier"]

    def provider_accepted() -> int:
        return len(sinks.gateway.received) + len(sinks.smtp.inbox.messages)

    def quiet(state: dict[str, Any]) -> bool:
        """Nothing is left to send: every step of every referral alert has fired, no notification
        is pending (a send under way keeps its notification pending until it is recorded), and
        every message a provider accepted is in the notifier's ledger."""
        return bool(
            state["steps pending"] == 0
            and state["pending"] == 0
            and state["undelivered"] == 0
            and state["delivered attempts"] == provider_accepted()
        )

    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port, step_seconds=STEP_SECONDS,
    ) as live:  # fmt: skip
        outage_ends = datetime.now(UTC) + timedelta(seconds=OUTAGE_SECONDS)  # at or before theirs
        sinks.gateway.outage(OUTAGE_SECONDS)
        sinks.smtp.outage(OUTAGE_SECONDS)
        gen = generator(live["intake"].url, kafka_bootstrap, topic_prefix, "outage")
        contacts = await gen.run(CONTACTS, RATE)
        found, _ = await settled(service_databases, contacts, sinks, within=150)
        after = await eventually(
            lambda: notifier_state(url), quiet, within=150, what="every step fired and delivered"
        )
        sent = provider_accepted()
        refused = sinks.gateway.refused + sinks.smtp.inbox.refused

    schedule: dict[str, list[Fired]] = after["schedule"]
    steps = [each for fired in schedule.values() for each in fired]
    during = {
        alert: sum(f.fired_at is not None and f.fired_at < outage_ends for f in fired)
        for alert, fired in schedule.items()
    }
    # Per alert, how many steps the policy lets have fired by the outage's end: at least those due
    # LATE_SECONDS before it, at most those due by then.
    allowed = {
        alert: (
            sum(f.due + timedelta(seconds=LATE_SECONDS) <= outage_ends for f in fired),
            sum(f.due <= outage_ends for f in fired),
        )
        for alert, fired in schedule.items()
    }
    early = [f for f in steps if f.fired_at is not None and f.fired_at < f.due]
    late = [
        f
        for f in steps
        if f.fired_at is not None and f.fired_at > f.due + timedelta(seconds=LATE_SECONDS)
    ]
    delivered_during = sum(at < outage_ends for at in after["delivered at"])
    backlog = max(after["delivered at"], default=outage_ends) - outage_ends
    report(
        f"provider outage ({database_kind})",
        summary(contacts)
        | {"outage s": OUTAGE_SECONDS, "refused by providers": refused,
           "escalation steps fired during outage": sum(during.values()),
           "alerts by steps fired during outage": dict(sorted(Counter(during.values()).items())),
           "latest step s after due": round(max(
               ((f.fired_at - f.due).total_seconds() for f in steps if f.fired_at), default=-1), 1),
           "all delivered s after outage": round(backlog.total_seconds(), 1),
           "notifications": after["notifications wanted"], "fell back": after["fell back"]},
        found, contacts, provider_duplicates=sent - after["delivered"],
    )  # fmt: skip
    assert delivered_during == 0  # the outage was real
    assert not (unowed := unacknowledged_owed(contacts)), (
        f"{len(unowed)} contacts not acknowledged, though only the providers were down: {unowed[:5]}"
    )
    assert refused > 0
    # Escalation keeps to the policy's schedule while nothing can be delivered: every referral alert
    # has steps 1-3, each fired, none before its time nor long after it, in order; by the outage's
    # end each alert had fired as many as its times allow.
    assert len(schedule) == len(contacts), "one referral alert a contact"
    assert all(sorted(f.step for f in fired) == list(STEPS) for fired in schedule.values())
    assert all(f.fired_at is not None for f in steps)
    assert not early, f"steps fired before their time: {early[:3]}"
    assert not late, f"steps fired over {LATE_SECONDS} s late: {late[:3]}"
    wrong = {
        a: (during[a], allowed[a])
        for a in schedule
        if not allowed[a][0] <= during[a] <= allowed[a][1]
    }
    assert not wrong, f"steps fired during the outage vs (fewest, most) the policy allows: {wrong}"
    assert min(during.values()) >= 1, "every alert escalated at least once during the outage"
    assert max(during.values()) <= 2, "no alert reached step 3 (due at 60 s) during the outage"
    assert found.problems(contacts, channels=2) == {}
    assert after["undelivered"] == 0
    assert after["pending"] == 0
    assert sent == after["delivered"]  # one provider message a delivered notification, no more
