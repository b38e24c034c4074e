"""The coordinator's API in memory: authentication, reorder, defer, withdraw, add by hand, and
that each edit makes the next publication a revision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from faststream import AckPolicy, TestApp
from faststream.kafka import TestKafkaBroker

from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.events import (
    Urgency,
)
from shared.topics import AGENDA, REFERRALS
from tests.support.events import referral
from tests.support.signing import publish_signed
from tests.support.system import TEST_SETTINGS_MEETINGS
from tests.support.waiting import wait_until

MEETING = "/v1/meetings/case-panel/2026-12-02"
AUTH = {"Authorization": "Bearer test-token-coordinator"}


async def test_coordinator_edits_the_agenda(tmp_path: Path) -> None:
    clock = FixedClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))
    app = create_scheduler(
        SchedulerSettings(SAFEGUARDING_ENV="test", verify_topics_on_start=False, outbox_poll_seconds=0.1,
                          publish_poll_seconds=0.1, database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3",
                          **TEST_SETTINGS_MEETINGS),
        clock,
    )  # fmt: skip
    broker = app.kafka_broker
    versions: list[int] = []

    @broker.subscriber(AGENDA.name, group_id="probe", ack_policy=AckPolicy.ACK)
    async def on_agenda(body: dict[str, Any]) -> None:
        if body["event_type"] == "agenda.published.v1":
            versions.append(body["version"])

    async with TestKafkaBroker(broker), TestApp(app):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app.http_app), base_url="http://m", headers=AUTH
        )
        for number, urgency in enumerate(
            (Urgency.ROUTINE, Urgency.PRIORITY, Urgency.PRIORITY), start=1
        ):
            await publish_signed(
                broker, referral(f"MS-2026-COORD{number}", clock.now(), urgency), REFERRALS.name
            )
        anonymous = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app.http_app), base_url="http://m"
        )
        assert (await anonymous.get("/v1/meetings")).status_code == 401
        assert (await anonymous.get(f"{MEETING}/agenda.pdf")).status_code == 401
        assert (
            await client.get("/v1/meetings", headers={"Authorization": "Bearer wrong"})
        ).status_code == 401

        order = ["MS-2026-COORD3", "MS-2026-COORD1", "MS-2026-COORD2"]
        assert (
            await client.post(f"{MEETING}/order", json={"case_references": order})
        ).status_code == 204
        text = (await client.get(f"{MEETING}/agenda.md")).text
        assert [text.index(ref) for ref in order] == sorted(text.index(ref) for ref in order)

        deferred = await client.post(f"{MEETING}/items/MS-2026-COORD1/defer")
        assert deferred.json()["meeting_starts_at"] == "2026-12-09T10:00:00Z"
        withdrawn = await client.post(
            f"{MEETING}/items/MS-2026-COORD2/withdraw", json={"reason": "duplicate of another case"}
        )
        assert withdrawn.status_code == 204
        added = await client.post(
            f"{MEETING}/other-business", json={"text": "Training dates for the new year"}
        )
        assert added.status_code == 204
        assert (
            await client.post(f"{MEETING}/items/MS-2026-NOPE/withdraw", json={"reason": "xyz"})
        ).status_code == 404

        text = (await client.get(f"{MEETING}/agenda.md")).text
        assert "MS-2026-COORD3" in text
        assert "MS-2026-COORD1" not in text, "deferred to the next meeting"
        assert "MS-2026-COORD2" not in text, "withdrawn"
        other_business = text.split("## 6. Any other business\n", 1)[1]
        assert other_business.strip().splitlines()[0] == (
            "- Training dates for the new year (coordinator)"
        )
        assert (
            "MS-2026-COORD1"
            in (await client.get("/v1/meetings/case-panel/2026-12-09/agenda.md")).text
        )

        clock.advance(timedelta(hours=22))  # publication time
        await wait_until(lambda: versions == [1], within=5, what="first publication")
        await client.post(f"{MEETING}/other-business", json={"text": "Venue change"})
        await wait_until(lambda: versions == [1, 2], within=5, what="revision after an edit")
