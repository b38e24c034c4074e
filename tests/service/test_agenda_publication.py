"""Agenda publication, in memory with a clock the test moves: the first version goes out a
configured time before the meeting with its files; a change publishes a revised version; no
change publishes nothing."""

from __future__ import annotations

import asyncio
import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
from faststream import AckPolicy, TestApp
from faststream.kafka import TestKafkaBroker

from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.events import (
    District,
    SupportNeed,
    Urgency,
)
from shared.topics import AGENDA, REFERRALS
from tests.support.events import referral
from tests.support.system import ROOT
from tests.support.waiting import wait_until

NORTH: dict[str, Any] = {
    "district": District.NORTH_NORFOLK,
    "support_needs": (SupportNeed.HOUSING,),
}
SETTINGS: dict[str, Any] = {
    "SAFEGUARDING_ENV": "test",
    "verify_topics_on_start": False,
    "outbox_poll_seconds": 0.1,
    "publish_poll_seconds": 0.1,
    "calendar_file": ROOT / "deploy" / "config" / "meetings.yaml",
}


async def test_agenda_is_published_then_revised_only_when_it_changes(tmp_path: Path) -> None:
    clock = FixedClock(
        datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    )  # Sunday; panel on Wed 2 Dec 10:00
    app = create_scheduler(
        SchedulerSettings(**SETTINGS, database_url=f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3"),
        clock,
    )
    broker = app.kafka_broker
    published: list[dict[str, Any]] = []

    @broker.subscriber(AGENDA.name, group_id="probe", ack_policy=AckPolicy.ACK)
    async def on_agenda(body: dict[str, Any]) -> None:
        if body["event_type"] == "agenda.published.v1":
            published.append(body)

    async with TestKafkaBroker(broker), TestApp(app):
        await broker.publish(referral("MS-2026-PUB001", clock.now(), Urgency.PRIORITY, **NORTH).model_dump(mode="json"),
                             topic=REFERRALS.name)  # fmt: skip
        clock.advance(timedelta(hours=22))  # Mon 30 Nov 10:00: 48 h before the meeting
        await wait_until(lambda: len(published) == 1, within=5, what="first version")
        clock.advance(timedelta(hours=1))
        await broker.publish(referral("MS-2026-PUB002", clock.now(), Urgency.IMMEDIATE, **NORTH).model_dump(mode="json"),
                             topic=REFERRALS.name)  # fmt: skip
        await wait_until(lambda: len(published) == 2, within=5, what="revised version")
        clock.advance(timedelta(hours=1))
        await asyncio.sleep(1.0)  # several publisher polls: an unchanged agenda must stay quiet

    assert [event["version"] for event in published] == [1, 2], "no change, no new version"
    first, revised = published
    assert first["meeting_starts_at"] == "2026-12-02T10:00:00Z"
    assert first["recipients"] == ["meeting_coordinator"]
    names = sorted(item["filename"] for item in revised["attachments"])
    assert names == [
        "agenda-case-panel-2026-12-02-v2.md",
        "agenda-case-panel-2026-12-02-v2.pdf",
        "case-panel-2026-12-02.ics",
    ]
    files = {
        item["filename"]: base64.b64decode(item["content_base64"])
        for item in revised["attachments"]
    }
    text = (
        pypdf.PdfReader(io.BytesIO(files["agenda-case-panel-2026-12-02-v2.pdf"]))
        .pages[0]
        .extract_text()
    )
    assert "MS-2026-PUB001" in text
    assert "MS-2026-PUB002" in text
    markdown = files["agenda-case-panel-2026-12-02-v2.md"].decode()
    assert markdown.index("MS-2026-PUB002") < markdown.index("MS-2026-PUB001"), "immediate first"
    assert b"SEQUENCE:1" in files["case-panel-2026-12-02.ics"]
    first_files = {item["filename"] for item in first["attachments"]}
    assert "agenda-case-panel-2026-12-02-v1.pdf" in first_files
