"""Police operations announced ahead, in the notifier (in memory: FastStream's test broker,
SQLite, a clock moved by hand): the head of service warned at once, once per window and reason;
the advisor on duty at the start reminded the day before and the hour before, each once, from
timers in the database; a moved window cancels the old reminders and plans new ones.

Expected times are worked out by hand from the rota below (advisor-a 08:00-20:00 every day,
nobody at night; head is the last resort). December, so London time is UTC. The deployed policy's
threshold (10) and reminder hours (24, 1) are used."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from faststream import TestApp
from faststream.kafka import KafkaBroker, TestKafkaBroker

from services.notifier.adapters.tables import alerts, operation_reminders
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.clock import LONDON, FixedClock
from shared.events import District, OperationAnnouncedV1
from shared.topics import REFERRALS
from tests.service.test_notifier_console_api import Recorder
from tests.support.notifier import write_policy
from tests.support.safeguarding_paths import rows
from tests.support.signing import publish_signed
from tests.support.system import TEST_SETTINGS_NOTIFIER
from tests.support.waiting import wait_until

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]
OPERATION = "Op Kestrel"
GROUP = "NFK:kestrel"


def london(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=LONDON)


def rota_file(folder: Path) -> Path:
    def channels(person: str) -> dict[str, str]:
        return {"email": f"json://127.0.0.1:9/email/{person}"}

    rota = {
        "people": [
            {"id": "advisor-a", "role": "advisor", "channels": channels("advisor-a")},
            {"id": "head", "role": "head_of_service", "channels": channels("head")},
        ],
        "weekly": [{"days": EVERY_DAY, "start": "08:00", "end": "20:00", "person": "advisor-a"}],
        "last_resort": "head",
    }
    path = folder / "rota.yaml"
    path.write_text(json.dumps(rota))
    return path


def announced(
    version: int, starts: datetime, ends: datetime, expected: int, now: datetime
) -> OperationAnnouncedV1:
    return OperationAnnouncedV1(
        occurred_at=now, correlation_id=f"op-{version}", producer="intake", operation=OPERATION,
        operation_group=GROUP, force_code="NFK", district=District.NORWICH, starts_at=starts,
        ends_at=ends, expected_victims=expected, version=version,
    )  # fmt: skip


@dataclass
class Notifier:
    broker: KafkaBroker
    url: str

    async def announce(self, event: OperationAnnouncedV1) -> None:
        """The test broker runs the handler before publish returns: its effects are committed."""
        await publish_signed(self.broker, event, REFERRALS.name, key=GROUP.encode())

    async def alerts(self, kind: str) -> list[dict[str, Any]]:
        query = sa.select(alerts).where(alerts.c.kind == kind).order_by(alerts.c.raised_at)
        return await rows(self.url, query)

    async def reminders(self) -> list[tuple[datetime, int, datetime, str]]:
        query = sa.select(operation_reminders).order_by(
            operation_reminders.c.due_at, operation_reminders.c.before_minutes
        )
        return [
            (row["starts_at"], row["before_minutes"], row["due_at"], row["status"])
            for row in await rows(self.url, query)
        ]


@asynccontextmanager
async def running(folder: Path, clock: FixedClock, sender: Recorder) -> AsyncIterator[Notifier]:
    url = f"sqlite+aiosqlite:///{folder}/notifier.sqlite3"
    policy = json.loads(write_policy(folder, step_seconds=600).read_text())
    assert policy["operation_expected_threshold"] == 10
    assert policy["operation_reminder_hours"] == [24, 1]
    settings = NotifierSettings(
        SAFEGUARDING_ENV="test", verify_topics_on_start=False, database_url=url,
        **TEST_SETTINGS_NOTIFIER | {"rota_file": rota_file(folder),
                                    "alerting_file": folder / "alerting.yaml"},
        dispatch_poll_seconds=0.05, outbox_poll_seconds=0.05,
    )  # fmt: skip
    app = create_notifier(settings, clock, sender)
    async with TestKafkaBroker(app.kafka_broker), TestApp(app):
        yield Notifier(app.kafka_broker, url)


async def test_warned_once_and_reminded_the_day_and_the_hour_before(tmp_path: Path) -> None:
    clock = FixedClock(london(1, 10))  # Tuesday 10:00
    sender = Recorder()

    def to(person: str, words: str) -> list[str]:
        return [body for url, body in sender.sent if url.endswith(f"/{person}") and words in body]

    async with running(tmp_path, clock, sender) as notifier:
        # Wednesday 18:00-22:00: nobody on duty from 20:00, and 12 expected (over 10).
        starts, ends = london(2, 18), london(2, 22)
        await notifier.announce(announced(1, starts, ends, 12, clock.now()))
        [warning] = await notifier.alerts("operation_warning")
        assert (
            warning["subject_key"]
            == f"{GROUP}|{int(starts.timestamp())}-{int(ends.timestamp())}|gap+many"
        )
        await wait_until(lambda: len(to("head", "The police announced")) == 1, what="the warning")
        [message] = to("head", "The police announced")
        assert "20:00 Wed 02 Dec to 22:00 Wed 02 Dec" in message  # the uncovered part
        assert "more potential victims expected than 10" in message
        assert "Expected: 12 potential victims." in message

        # The same again (a redelivery, a newer version with the same facts, fewer expected, an
        # older version arriving late): no second warning.
        await notifier.announce(announced(1, starts, ends, 12, clock.now()))
        await notifier.announce(announced(2, starts, ends, 12, clock.now()))
        await notifier.announce(announced(3, starts, ends, 5, clock.now()))
        await notifier.announce(announced(2, starts, ends, 30, clock.now()))  # stale
        assert len(await notifier.alerts("operation_warning")) == 1
        # Reminders: the day before (Tue 18:00) and the hour before (Wed 17:00), pending.
        assert await notifier.reminders() == [
            (starts, 24 * 60, london(1, 18), "pending"),
            (starts, 60, london(2, 17), "pending"),
        ]

        # Tuesday 18:00: advisor-a, on duty at Wednesday 18:00, is told; nobody else.
        clock.advance(timedelta(hours=8))
        await wait_until(lambda: len(to("advisor-a", "Kestrel")) == 1, what="day-before reminder")
        [day_before] = to("advisor-a", "Kestrel")
        assert "starts tomorrow" in day_before
        assert "Expected: 5 potential victims." in day_before

        # Moved to start at 19:00 (still Tuesday 18:00): a new window, so a new warning; the
        # hour-before reminder of the old start is cancelled, new ones are planned.
        moved = london(2, 19)
        await notifier.announce(announced(4, moved, ends, 5, clock.now()))
        assert [
            a["subject_key"].rsplit("|", 1)[1] for a in await notifier.alerts("operation_warning")
        ] == ["gap+many", "gap"]
        assert await notifier.reminders() == [
            (starts, 24 * 60, london(1, 18), "sent"),
            (moved, 24 * 60, london(1, 19), "pending"),
            (starts, 60, london(2, 17), "cancelled"),
            (moved, 60, london(2, 18), "pending"),
        ]

        clock.advance(timedelta(hours=1))  # Tuesday 19:00
        await wait_until(lambda: len(to("advisor-a", "Kestrel")) == 2, what="moved day-before")
        clock.advance(timedelta(hours=23))  # Wednesday 18:00
        await wait_until(lambda: len(to("advisor-a", "Kestrel")) == 3, what="hour-before")
        assert "starts in 1 hour" in to("advisor-a", "Kestrel")[2]
        assert [status for *_, status in await notifier.reminders()] == [
            "sent", "sent", "cancelled", "sent",
        ]  # fmt: skip
        assert len(await notifier.alerts("operation_reminder")) == 3
        assert len(to("head", "The police announced")) == 2  # the two warnings, nothing more
