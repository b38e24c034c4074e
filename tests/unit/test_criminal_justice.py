"""Criminal-justice support, against a real SQLite database migrated to head: which engagement
changes are allowed (the table written out here by hand), the configuration's validation, reminder
instants worked out by hand (bank holidays and a clock change), reminders sent exactly once across
a restart, and the figures' counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.exc import DBAPIError

from services.casework.adapters.criminal_justice_tables import criminal_justice_history
from services.casework.adapters.tables import case_owners, cases, outbox, tasks
from services.casework.config import ConfigError, load_config
from services.casework.criminal_justice import (
    Booking,
    BookingKind,
    Engagement,
    EngagementPolicy,
    EngagementRefused,
    ReminderOffset,
    check_change,
)
from services.casework.criminal_justice_records import record_engagement, remind_bookings
from services.casework.handlers import CaseworkDeps
from services.casework.lifecycle import ChasePolicy
from services.casework.main import MIGRATIONS
from services.casework.queries import figures
from shared.clock import LONDON, FixedClock
from shared.db import create_engine, migrate
from shared.rota import load_rota

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "config" / "casework.yaml"

# The allowed changes, written from the states rather than read from the code.
ALLOWED = {
    ("not_yet_asked", "willing_to_give_account"), ("not_yet_asked", "declined"),
    ("willing_to_give_account", "declined"), ("willing_to_give_account", "account_given"),
    ("willing_to_give_account", "support_booked"),
    ("declined", "willing_to_give_account"),
    ("account_given", "support_booked"),
    ("support_booked", "support_booked"), ("support_booked", "willing_to_give_account"),
    ("support_booked", "declined"), ("support_booked", "account_given"),
}  # fmt: skip
STATES = ("not_yet_asked", "willing_to_give_account", "declined", "account_given", "support_booked")
NOW = datetime(2026, 12, 24, 10, 0, tzinfo=LONDON)  # Thursday before Christmas


def test_every_change_is_allowed_or_refused_as_the_table_says() -> None:
    booking = Booking(BookingKind.COURT, NOW + timedelta(days=3))
    for old in STATES:
        for new in STATES:
            with_booking = booking if new == "support_booked" else None
            if (old, new) in ALLOWED:
                check_change(Engagement(old), Engagement(new), with_booking, NOW)
            else:
                with pytest.raises(EngagementRefused):
                    check_change(Engagement(old), Engagement(new), with_booking, NOW)
    # A booking goes with support_booked only, and is for a time still to come.
    with pytest.raises(EngagementRefused):
        check_change(Engagement("not_yet_asked"), Engagement("willing_to_give_account"), booking, NOW)  # fmt: skip
    with pytest.raises(EngagementRefused):
        check_change(Engagement("willing_to_give_account"), Engagement("support_booked"), None, NOW)  # fmt: skip
    past = Booking(BookingKind.INTERVIEW, NOW - timedelta(minutes=1))
    with pytest.raises(EngagementRefused):
        check_change(Engagement("willing_to_give_account"), Engagement("support_booked"), past, NOW)  # fmt: skip


def test_reminder_instants_skip_bank_holidays_and_keep_the_wall_clock_across_a_clock_change() -> (
    None
):
    two_days, two_hours = ReminderOffset(working_days=2), ReminderOffset(hours=2)
    # Tue 5 Jan 2027 10:00 GMT: the working days before are Mon 4 Jan and Thu 31 Dec (Fri 1 Jan
    # is New Year's Day).
    booked = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
    assert two_days.instant(booked) == datetime(2026, 12, 31, 10, 0, tzinfo=UTC)
    assert two_hours.instant(booked) == datetime(2027, 1, 5, 8, 0, tzinfo=UTC)
    # Mon 30 Mar 2026 10:00 BST (09:00 UTC): two working days before is Thu 26 Mar, 10:00 GMT,
    # which is 10:00 UTC (the clocks went forward on Sunday 29 Mar).
    booked = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    assert two_days.instant(booked) == datetime(2026, 3, 26, 10, 0, tzinfo=UTC)
    assert two_hours.instant(booked) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert (two_days.key, two_hours.key, ReminderOffset(hours=0.25).key) == (
        "2_working_days", "2_hours", "0.25_hours")  # fmt: skip


def write_config(folder: Path, section: Any) -> Path:
    document = yaml.safe_load(CONFIG.read_text())
    document["criminal_justice"] = section
    path = folder / "casework.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_shipped_configuration_opens_arrange_account_and_reminds_twice() -> None:
    policy = load_config(CONFIG).engagement_policy()
    assert {state.value: kind for state, (kind, _) in policy.tasks.items()} == {
        "willing_to_give_account": "arrange_account"
    }
    assert [offset.key for offset in policy.reminders] == ["2_working_days", "2_hours"]


@pytest.mark.parametrize(
    ("section", "complaint"),
    [
        ({"tasks": {"not_yet_asked": {"kind": "ask", "hours": 1}}}, "not_yet_asked"),
        ({"tasks": {"willing_to_give_account": {"kind": "healthcare", "hours": 1}}}, "healthcare"),
        ({"tasks": {"willing_to_give_account": {"kind": "x", "hours": 1, "working_days": 1}}},
         "either hours or working_days"),
        ({"tasks": {"willing": {"kind": "x", "hours": 1}}}, "tasks"),
        ({"tasks": {"willing_to_give_account": {"kind": "Arrange it!", "hours": 1}}}, "kind"),
        ({"reminders_before_booking": [{"hours": 2}, {"hours": 2.0}]}, "twice"),
        ({"reminders_before_booking": [{"minutes": 5}]}, "minutes"),
        ({"reminders_before_booking": [{"hours": 0}]}, "hours"),
        ({"notes": "free text"}, "notes"),
    ],
)  # fmt: skip
def test_a_bad_criminal_justice_section_stops_the_start(
    tmp_path: Path, section: Any, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_config(write_config(tmp_path, section))


async def _deps(tmp_path: Path, clock: FixedClock) -> CaseworkDeps:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'casework.sqlite3'}")
    await migrate(engine, MIGRATIONS, version_table="alembic_version_casework")
    return CaseworkDeps(
        engine=engine, policy=load_config(CONFIG).deadline_policy(), chase=ChasePolicy(),
        rota=load_rota(ROOT / "deploy" / "config" / "rota.yaml"), clock=clock,
        tasks_topic="tasks", on_commit=lambda: None,
    )  # fmt: skip


async def _add_case(deps: CaseworkDeps, reference: str, owner: str, pathway: str = "nrm") -> None:
    async with deps.engine.begin() as connection:
        await connection.execute(
            cases.insert().values(
                case_reference=reference, pathway=pathway, recorded_at=NOW, opened_at=NOW
            )
        )
        await connection.execute(case_owners.insert().values(
            case_reference=reference, person_id=owner, since=NOW))  # fmt: skip


async def _events(deps: CaseworkDeps, event_type: str) -> list[dict[str, Any]]:
    async with deps.engine.connect() as connection:
        payloads = (await connection.execute(sa.select(outbox.c.payload))).scalars().all()
    return [e for e in map(json.loads, payloads) if e["event_type"] == event_type]


async def test_changes_are_recorded_with_who_and_when_and_open_the_configured_task(
    tmp_path: Path,
) -> None:
    clock = FixedClock(NOW)
    deps = await _deps(tmp_path, clock)
    policy = load_config(CONFIG).engagement_policy()
    await _add_case(deps, "MS-2026-CJ0001", "advisor-day")
    try:
        with pytest.raises(EngagementRefused):
            await record_engagement(deps, policy, "MS-2026-CJ0001", Engagement.ACCOUNT_GIVEN,
                                    None, "advisor-day")  # fmt: skip
        willing = await record_engagement(
            deps, policy, "MS-2026-CJ0001", Engagement.WILLING, None, "advisor-day"
        )
        assert willing["state"] == "willing_to_give_account"
        async with deps.engine.connect() as connection:
            task = (await connection.execute(sa.select(tasks))).one()
        # 5 working days from Thu 24 Dec 2026: 29, 30, 31 Dec, 4 and 5 Jan (25, 28 Dec and 1 Jan
        # are bank holidays), closing at 17:00 London.
        assert (task.kind, task.assignee, task.status) == ("arrange_account", "advisor-day", "open")
        assert task.due_at == datetime(2027, 1, 5, 17, 0, tzinfo=UTC)
        opened = await _events(deps, "tasks.opened.v1")
        assert [[t["kind"] for t in e["tasks"]] for e in opened] == [["arrange_account"]]

        clock.advance(timedelta(hours=1))
        booked_at = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)
        booked = await record_engagement(
            deps, policy, "MS-2026-CJ0001", Engagement.SUPPORT_BOOKED,
            Booking(BookingKind.INTERVIEW, booked_at), "head-of-service",
        )  # fmt: skip
        assert booked["booking"]["kind"] == "interview"
        assert booked["booking"]["booked_at"] == booked_at
        assert [(h["from_state"], h["to_state"], h["actor"], h["at"]) for h in booked["history"]] == [
            ("not_yet_asked", "willing_to_give_account", "advisor-day", NOW),
            ("willing_to_give_account", "support_booked", "head-of-service", NOW + timedelta(hours=1)),
        ]  # fmt: skip
        # The history is append-only: the database itself refuses a rewrite.
        with pytest.raises(DBAPIError, match="append-only"):
            async with deps.engine.begin() as connection:
                await connection.execute(criminal_justice_history.update().values(actor="x"))
    finally:
        await deps.engine.dispose()


async def test_each_reminder_is_sent_once_across_a_restart_and_a_late_booking_sends_one(
    tmp_path: Path,
) -> None:
    clock = FixedClock(datetime(2026, 12, 21, 9, 0, tzinfo=UTC))  # Monday
    deps = await _deps(tmp_path, clock)
    policy = EngagementPolicy(reminders=(ReminderOffset(working_days=2), ReminderOffset(hours=2)))
    for reference in ("MS-2026-CJ0002", "MS-2026-CJ0003"):
        await _add_case(deps, reference, "advisor-night")
        await record_engagement(deps, policy, reference, Engagement.WILLING, None, "advisor-day")
    booked_at = datetime(2027, 1, 5, 10, 0, tzinfo=UTC)  # reminders: 31 Dec 10:00, 5 Jan 08:00
    await record_engagement(
        deps, policy, "MS-2026-CJ0002", Engagement.SUPPORT_BOOKED,
        Booking(BookingKind.COURT, booked_at), "advisor-day",
    )  # fmt: skip
    try:

        async def sent() -> list[tuple[str, str, str | None]]:
            return [
                (e["case_reference"], e["before"], e["assignee"])
                for e in await _events(deps, "criminal_justice.reminder.v1")
            ]

        clock.advance(timedelta(days=10) - timedelta(minutes=1))  # Thu 31 Dec 08:59
        assert await remind_bookings(deps, policy) == 0
        clock.advance(timedelta(minutes=1))  # 09:00 UTC... the reminder is at 10:00
        assert await remind_bookings(deps, policy) == 0
        clock.advance(timedelta(hours=1))
        assert await remind_bookings(deps, policy) == 1
        assert await remind_bookings(deps, policy) == 0
        restarted = await _deps(tmp_path, clock)  # a new process, the same database
        assert await remind_bookings(restarted, policy) == 0
        clock.advance(timedelta(days=5, hours=-2))  # Tue 5 Jan 08:00
        assert await remind_bookings(restarted, policy) == 1
        assert await remind_bookings(deps, policy) == 0
        clock.advance(timedelta(hours=3))  # the booking has passed: nothing more
        assert await remind_bookings(deps, policy) == 0
        assert await sent() == [("MS-2026-CJ0002", "2_working_days", "advisor-night"),
                                ("MS-2026-CJ0002", "2_hours", "advisor-night")]  # fmt: skip

        # Booked an hour ahead: both offsets have passed; one reminder, the nearest, not two.
        await record_engagement(
            deps, policy, "MS-2026-CJ0003", Engagement.SUPPORT_BOOKED,
            Booking(BookingKind.INTERVIEW, clock.now() + timedelta(hours=1)), "advisor-day",
        )  # fmt: skip
        assert await remind_bookings(deps, policy) == 1
        assert await remind_bookings(deps, policy) == 0
        assert (await sent())[-1] == ("MS-2026-CJ0003", "2_hours", "advisor-night")
        await restarted.engine.dispose()
    finally:
        await deps.engine.dispose()


async def test_the_figures_count_adult_cases_by_engagement(tmp_path: Path) -> None:
    deps = await _deps(tmp_path, FixedClock(NOW))
    policy = EngagementPolicy()
    try:
        for number in range(1, 5):
            await _add_case(deps, f"MS-2026-CJ010{number}", "advisor-day")
        await _add_case(deps, "MS-2026-CJCHLD", "advisor-day", pathway="child")
        for reference in ("MS-2026-CJ0101", "MS-2026-CJ0102"):
            await record_engagement(deps, policy, reference, Engagement.WILLING, None, "a")
        await record_engagement(deps, policy, "MS-2026-CJ0103", Engagement.DECLINED, None, "a")
        counts = (await figures(deps.engine, NOW, 100))["criminal_justice_by_state"]
        assert counts == {"not_yet_asked": 1, "willing_to_give_account": 2, "declined": 1,
                          "account_given": 0, "support_booked": 0}  # fmt: skip
    finally:
        await deps.engine.dispose()
