"""The SMS/voice gateway and the mail server both refuse everything for a minute while referrals
arrive: alerts are delayed, never lost, and escalation keeps to its schedule meanwhile. When the
providers are back, every notification the policy called for is delivered (on the person's
fallback channel where the first one gave up)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from services.notifier.adapters.tables import escalation_steps, notifications
from tests.fault.conftest import Sinks, generator, report, settled
from tests.support.ground_truth import summary
from tests.support.live import LiveSystem

pytestmark = pytest.mark.fault

OUTAGE_SECONDS = 60.0
STEP_SECONDS = 20.0  # escalation steps at 20, 40 and 60 s: all due inside the outage
CONTACTS, RATE = 30, 2.0


async def notifier_state(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            fired = (
                (
                    await connection.execute(
                        sa.select(escalation_steps.c.fired_at).where(
                            escalation_steps.c.status == "fired", escalation_steps.c.step > 0
                        )
                    )
                )
                .scalars()
                .all()
            )
            rows = (await connection.execute(sa.select(notifications))).all()
    finally:
        await engine.dispose()
    wanted = {(r.alert_id, r.step, r.person_id) for r in rows}
    delivered = {(r.alert_id, r.step, r.person_id) for r in rows if r.status == "delivered"}
    return {
        "steps fired": len(fired),
        "notifications wanted": len(wanted),
        "undelivered": len(wanted - delivered),
        "pending": sum(r.status == "pending" for r in rows),
        "delivered": sum(r.status == "delivered" for r in rows),
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
    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port, step_seconds=STEP_SECONDS,
    ) as live:  # fmt: skip
        sinks.gateway.outage(OUTAGE_SECONDS)
        sinks.smtp.outage(OUTAGE_SECONDS)
        down_from = time.monotonic()
        gen = generator(live["intake"].url, kafka_bootstrap, topic_prefix, "outage")
        contacts = await gen.run(CONTACTS, RATE)
        await asyncio.sleep(OUTAGE_SECONDS - 1 - (time.monotonic() - down_from))
        during = await notifier_state(url)
        delivered_during = len(sinks.gateway.received) + len(sinks.smtp.inbox.messages)
        refused = sinks.gateway.refused + sinks.smtp.inbox.refused

        found, _ = await settled(service_databases, contacts, sinks, within=150)
        # Every step of every alert ends delivered (the last step falls due at 60 s + the stream).
        deadline = time.monotonic() + 120
        after = await notifier_state(url)
        while (after["undelivered"] or after["pending"]) and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            after = await notifier_state(url)
        recovered = time.monotonic() - down_from - OUTAGE_SECONDS
        await asyncio.sleep(2.0)  # a late duplicate would show itself here
        sent = len(sinks.gateway.received) + len(sinks.smtp.inbox.messages)

    report(
        f"provider outage ({database_kind})",
        summary(contacts)
        | {"outage s": OUTAGE_SECONDS, "refused by providers": refused,
           "escalation steps fired during outage": during["steps fired"],
           "all delivered s after outage": round(recovered, 1),
           "notifications": after["notifications wanted"], "fell back": after["fell back"]},
        found, contacts, provider_duplicates=sent - after["delivered"],
    )  # fmt: skip
    assert delivered_during == 0  # the outage was real
    assert refused > 0
    assert during["steps fired"] > 0  # escalation ran while nothing could be delivered
    assert found.problems(contacts, channels=2) == {}
    assert after["undelivered"] == 0
    assert after["pending"] == 0
    assert sent == after["delivered"]  # one provider message a delivered notification, no more
