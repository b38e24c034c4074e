"""Agenda publication, in memory with a clock the test moves: the first version goes out a
configured time before the meeting with its files; a change publishes a revised version; no
change publishes nothing."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest
from faststream import AckPolicy, TestApp
from faststream.kafka import TestKafkaBroker

from services.meeting_scheduler.main import create_app as create_scheduler
from services.meeting_scheduler.publishing import Publisher
from services.meeting_scheduler.settings import SchedulerSettings
from shared.clock import FixedClock
from shared.events import (
    District,
    SupportNeed,
    Urgency,
)
from shared.topics import AGENDA, REFERRALS
from tests.support.databases import wait_outbox_relayed
from tests.support.events import referral
from tests.support.signing import event_settings, publish_signed
from tests.support.system import ROOT
from tests.support.waiting import wait_until

NORTH: dict[str, Any] = {
    "district": District.NORTH_NORFOLK,
    "support_needs": (SupportNeed.HOUSING,),
}
SETTINGS: dict[str, Any] = {
    **event_settings("meeting_scheduler"),
    "SAFEGUARDING_ENV": "test",
    "verify_topics_on_start": False,
    "outbox_poll_seconds": 0.1,
    "publish_poll_seconds": 0.1,
    "calendar_file": ROOT / "deploy" / "config" / "meetings.yaml",
}


async def test_agenda_is_published_then_revised_only_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Count the publisher's finished passes: the positive signal that it has looked again.
    passes = 0
    publish_due = Publisher.publish_due

    async def counted(publisher: Publisher) -> int:
        nonlocal passes
        try:
            return await publish_due(publisher)
        finally:
            passes += 1

    monkeypatch.setattr(Publisher, "publish_due", counted)
    clock = FixedClock(
        datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    )  # Sunday; panel on Wed 2 Dec 10:00
    database = f"sqlite+aiosqlite:///{tmp_path}/m.sqlite3"
    app = create_scheduler(SchedulerSettings(**SETTINGS, database_url=database), clock)
    broker = app.kafka_broker
    published: list[dict[str, Any]] = []

    @broker.subscriber(AGENDA.name, group_id="probe", ack_policy=AckPolicy.ACK)
    async def on_agenda(body: dict[str, Any]) -> None:
        if body["event_type"] == "agenda.published.v1":
            published.append(body)

    async with TestKafkaBroker(broker), TestApp(app):
        await publish_signed(
            broker,
            referral("MS-2026-PUB001", clock.now(), Urgency.PRIORITY, **NORTH),
            REFERRALS.name,
        )
        clock.advance(timedelta(hours=22))  # Mon 30 Nov 10:00: 48 h before the meeting
        await wait_until(lambda: len(published) == 1, within=5, what="first version")
        clock.advance(timedelta(hours=1))
        await publish_signed(
            broker,
            referral("MS-2026-PUB002", clock.now(), Urgency.IMMEDIATE, **NORTH),
            REFERRALS.name,
        )
        await wait_until(lambda: len(published) == 2, within=5, what="revised version")
        clock.advance(timedelta(hours=1))
        # Two more finished passes: at least one began after the clock moved. An unchanged
        # agenda must stay quiet; anything it had published would be relayed by now.
        seen = passes
        await wait_until(lambda: passes >= seen + 2, within=5, what="two more publisher passes")
        await wait_outbox_relayed(database)

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
    # DTSTAMP: when each version was made (Mon 30 Nov 10:00 and 11:00 UTC), not the meeting.
    first_ics = next(
        base64.b64decode(item["content_base64"])
        for item in first["attachments"]
        if item["filename"] == "case-panel-2026-12-02.ics"
    )
    assert b"\r\nDTSTAMP:20261130T100000Z\r\n" in first_ics
    assert b"\r\nDTSTAMP:20261130T110000Z\r\n" in files["case-panel-2026-12-02.ics"]
    first_files = {item["filename"] for item in first["attachments"]}
    assert "agenda-case-panel-2026-12-02-v1.pdf" in first_files
