"""Leave and cover imported from iCalendar text into the notifier's stored rota changes, against a
real SQLite database, and who the notifier then pages (services/notifier/rota_book.py).

The rota: `day` 08:00-20:00 and `night` 20:00-08:00 every day (London wall-clock), `head` the
last resort. Now is Saturday 20 March 2027, noon (GMT); the clocks go forward at 01:00 GMT on
Sunday 28 March 2027 (the last Sunday of March). Every expected person below is worked out by
hand from those facts, at instants written in UTC."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.adapters import rota_tables
from services.notifier.adapters.tables import metadata
from services.notifier.rota_book import RotaBook
from services.notifier.rota_calendar import CalendarUnreadable
from services.notifier.rota_import import ImportSummary, import_calendar, importer, main
from shared.db import create_engine
from shared.rota import Rota, on_duty

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun", "bank_holiday"]
NOW = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
CANARY = "Zephyrine Quackenbush-Olumide"  # a name a title or description could hold
ROTA = {
    "people": [
        {"id": "day", "role": "advisor", "channels": {"email": "json://127.0.0.1:9/e"}},
        {"id": "night", "role": "advisor", "channels": {"email": "json://127.0.0.1:9/e"}},
        {"id": "head", "role": "head_of_service", "channels": {"email": "json://127.0.0.1:9/e"}},
    ],
    "weekly": [
        {"days": EVERY_DAY, "start": "08:00", "end": "20:00", "person": "day"},
        {"days": EVERY_DAY, "start": "20:00", "end": "08:00", "person": "night"},
    ],
    "last_resort": "head",
}

ALL_DAY_LEAVE = """BEGIN:VEVENT
UID:allday-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:Leave day (dentist with {canary})
DESCRIPTION:{canary}
DTSTART;VALUE=DATE:20270323
DTEND;VALUE=DATE:20270325
END:VEVENT"""
# 23:00 GMT Saturday to 09:00 BST Sunday: across the change of the clocks.
DST_COVER = """BEGIN:VEVENT
UID:dst-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:Cover: head
DTSTART;TZID=Europe/London:20270327T230000
DTEND;TZID=Europe/London:20270328T090000
END:VEVENT"""
UTC_COVER = """BEGIN:VEVENT
UID:utc-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:cover night
DTSTART:20270401T090000Z
DTEND:20270401T110000Z
END:VEVENT"""
# Monday nights of 5, 12, 19 and 26 April, the 12th excepted.
WEEKLY_LEAVE = """BEGIN:VEVENT
UID:weekly-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:Leave - night
DTSTART;TZID=Europe/London:20270405T200000
DTEND;TZID=Europe/London:20270406T080000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/London:20270412T200000
END:VEVENT"""
CANCELLED = """BEGIN:VEVENT
UID:cancelled-1@cal.example
DTSTAMP:20270301T000000Z
STATUS:CANCELLED
SUMMARY:Leave day
DTSTART;VALUE=DATE:20270407
END:VEVENT"""
UNKNOWN_PERSON = """BEGIN:VEVENT
UID:unknown-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:Leave {canary}
DTSTART;VALUE=DATE:20270408
END:VEVENT"""
MEETING = """BEGIN:VEVENT
UID:meeting-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:Case panel with {canary}
DTSTART:20270409T100000Z
DTEND:20270409T110000Z
END:VEVENT"""
BROKEN = """BEGIN:VEVENT
UID:broken-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:Leave day
DTSTART:garbage
END:VEVENT"""


def calendar(*events: str) -> str:
    body = "\n".join(event.format(canary=CANARY) for event in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//rota//EN\n{body}\nEND:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/notifier.sqlite3")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def book(engine: AsyncEngine) -> RotaBook:
    return RotaBook(Rota.model_validate(ROTA), engine)


async def run(
    book: RotaBook,
    engine: AsyncEngine,
    text: str,
    now: datetime = NOW,
    source: str = "calendar",
    dry_run: bool = False,
) -> ImportSummary:
    return await import_calendar(book, engine, text, importer("head", now), source, dry_run=dry_run)


def paged(book: RotaBook, *instants: datetime) -> list[str]:
    return [on_duty(book.current, instant).id for instant in instants]


async def live_rows(engine: AsyncEngine) -> list[sa.Row[tuple[object, ...]]]:
    table = rota_tables.rota_changes
    async with engine.connect() as connection:
        query = sa.select(table).where(table.c.removed_at.is_(None)).order_by(table.c.starts_local)
        return list((await connection.execute(query)).all())


async def test_each_kind_of_event_changes_who_is_paged(book: RotaBook, engine: AsyncEngine) -> None:
    text = calendar(
        ALL_DAY_LEAVE, DST_COVER, UTC_COVER, WEEKLY_LEAVE, CANCELLED, UNKNOWN_PERSON, MEETING
    )
    summary = await run(book, engine, text)

    # 1 all-day + 1 DST + 1 UTC + 3 weekly occurrences; the cancelled event and the meeting are
    # ignored; the unknown person is reported by UID, in fixed words.
    assert (summary.added, summary.updated, summary.removed) == (6, 0, 0)
    assert summary.ignored == 2
    assert [(p.label, p.message) for p in summary.problems] == [
        ("unknown-1@cal.example", "the person id after Leave or Cover is nobody on the rota")
    ]
    assert CANARY not in "\n".join(summary.lines())
    # All-day leave, Tue 23 and Wed 24 March (GMT): day's shifts fall to the last resort; night's
    # are untouched; Thursday is day's again.
    assert paged(book, at(2027, 3, 23, 10), at(2027, 3, 24, 19, 45), at(2027, 3, 23, 22)) == [
        "head", "head", "night",
    ]  # fmt: skip
    assert paged(book, at(2027, 3, 25, 10)) == ["day"]
    # Cover by head from 23:00 GMT (23:00 UTC) to 09:00 BST (08:00 UTC).
    assert paged(
        book, at(2027, 3, 27, 22, 45), at(2027, 3, 27, 23, 30), at(2027, 3, 28, 7, 45),
        at(2027, 3, 28, 8, 15),
    ) == ["night", "head", "head", "day"]  # fmt: skip
    # 09:00-11:00 UTC on 1 April is 10:00-12:00 BST: night covers a day shift.
    assert paged(book, at(2027, 4, 1, 8, 45), at(2027, 4, 1, 10, 30), at(2027, 4, 1, 11, 15)) == [
        "day", "night", "day",
    ]  # fmt: skip
    # Night on leave on Monday nights (21:00 UTC is 22:00 BST), but not on the 12th, and the
    # series ends after four (5 May is no longer in it).
    mondays = [at(2027, 4, day, 21) for day in (5, 12, 19, 26)] + [at(2027, 5, 3, 21)]
    assert paged(book, *mondays) == ["head", "night", "head", "head", "night"]
    # The cancelled all-day leave of 7 April: day is on duty.
    assert paged(book, at(2027, 4, 7, 10)) == ["day"]

    # Stored in London wall-clock time, as the API and the rota file have it.
    rows = await live_rows(engine)
    assert [(r.kind, r.person_id, r.starts_local, r.ends_local) for r in rows][:3] == [
        ("leave", "day", datetime(2027, 3, 23, 0, 0), datetime(2027, 3, 25, 0, 0)),
        ("cover", "head", datetime(2027, 3, 27, 23, 0), datetime(2027, 3, 28, 9, 0)),
        ("cover", "night", datetime(2027, 4, 1, 10, 0), datetime(2027, 4, 1, 12, 0)),
    ]
    assert all(r.import_source == "calendar" and r.created_by == "head" for r in rows)
    assert all(CANARY not in json.dumps([str(v) for v in r]) for r in rows)


async def test_importing_again_changes_nothing(book: RotaBook, engine: AsyncEngine) -> None:
    text = calendar(ALL_DAY_LEAVE, DST_COVER, UTC_COVER, WEEKLY_LEAVE)
    await run(book, engine, text)
    before = await live_rows(engine)

    again = await run(book, engine, text, now=NOW + timedelta(minutes=15))

    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 6)
    assert await live_rows(engine) == before


async def test_moved_cancelled_and_deleted_events_update_and_remove_their_changes(
    book: RotaBook, engine: AsyncEngine
) -> None:
    await run(book, engine, calendar(ALL_DAY_LEAVE, DST_COVER, UTC_COVER, WEEKLY_LEAVE))
    moved = ALL_DAY_LEAVE.replace("20270323", "20270330").replace("20270325", "20270331")
    cancelled = DST_COVER.replace("SUMMARY:", "STATUS:CANCELLED\nSUMMARY:")
    # The 19 April occurrence of the series is cancelled on its own (RECURRENCE-ID).
    one_off = """BEGIN:VEVENT
UID:weekly-1@cal.example
DTSTAMP:20270302T000000Z
RECURRENCE-ID;TZID=Europe/London:20270419T200000
STATUS:CANCELLED
SUMMARY:Leave night
DTSTART;TZID=Europe/London:20270419T200000
DTEND;TZID=Europe/London:20270420T080000
END:VEVENT"""
    # UTC_COVER deleted from the calendar.
    summary = await run(book, engine, calendar(moved, cancelled, WEEKLY_LEAVE, one_off))

    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (0, 1, 3, 2)
    # Day works on 23 March again and is away on Tuesday 30 March (BST: 09:00 UTC is 10:00).
    assert paged(book, at(2027, 3, 23, 10), at(2027, 3, 30, 9), at(2027, 3, 31, 9)) == [
        "day", "head", "day",
    ]  # fmt: skip
    assert paged(book, at(2027, 3, 27, 23, 30), at(2027, 4, 1, 10, 30)) == ["night", "day"]
    assert paged(book, *(at(2027, 4, day, 21) for day in (5, 19, 26))) == ["head", "night", "head"]


async def test_changes_made_by_hand_and_other_calendars_are_never_touched(
    book: RotaBook, engine: AsyncEngine
) -> None:
    hand = await book.add(
        book.actor("head", NOW), "cover", "head", datetime(2027, 4, 2, 8), datetime(2027, 4, 2, 12)
    )
    await run(book, engine, calendar(UTC_COVER), source="team-b")
    await run(book, engine, calendar(ALL_DAY_LEAVE, DST_COVER))
    # A change of this calendar removed by hand stays removed while its event is unchanged.
    [dst] = [
        row for row in await live_rows(engine) if row.person_id == "head" and row.id != hand.id
    ]
    await book.remove(book.actor("head", NOW), dst.id)

    summary = await run(book, engine, calendar(ALL_DAY_LEAVE))  # DST_COVER deleted

    assert (summary.removed, summary.unchanged, summary.kept_removed) == (0, 1, 0)
    again = await run(book, engine, calendar(ALL_DAY_LEAVE, DST_COVER))
    assert (again.added, again.kept_removed) == (0, 1)
    rows = await live_rows(engine)
    assert [(r.import_source, r.person_id) for r in rows] == [
        ("calendar", "day"), ("team-b", "night"), (None, "head"),
    ]  # fmt: skip
    # Nothing from the calendar at all: only this calendar's change goes.
    emptied = await run(book, engine, calendar())
    assert emptied.removed == 1
    assert [(r.import_source, r.person_id) for r in await live_rows(engine)] == [
        ("team-b", "night"), (None, "head"),
    ]  # fmt: skip


async def test_events_the_rota_cannot_take_are_reported_and_leave_the_rota_as_it_was(
    book: RotaBook, engine: AsyncEngine
) -> None:
    await run(book, engine, calendar(ALL_DAY_LEAVE))
    off_the_mark = UTC_COVER.replace("T090000Z", "T091000Z")
    # day on leave 23-24 March cannot cover on the 24th; the edited leave's UID is not understood
    # now (no person), so its change stays.
    clash = """BEGIN:VEVENT
UID:clash-1@cal.example
DTSTAMP:20270301T000000Z
SUMMARY:Cover day
DTSTART:20270324T200000Z
DTEND:20270324T220000Z
END:VEVENT"""
    no_person = ALL_DAY_LEAVE.replace("SUMMARY:Leave day (dentist with {canary})", "SUMMARY:Leave")
    summary = await run(book, engine, calendar(no_person, off_the_mark, clash, BROKEN, DST_COVER))

    assert (summary.added, summary.removed) == (1, 0)
    assert sorted((p.label, p.message) for p in summary.problems) == [
        ("allday-1@cal.example", "the title must name a rota person id after Leave"),
        ("broken-1@cal.example", "its dates or recurrence cannot be read"),
        ("clash-1@cal.example",
         "day has leave from 2027-03-23 00:00 to 2027-03-25 00:00 (London): remove it first"),
        ("utc-1@cal.example", "starts_at and ends_at must be on the quarter hour (London time)"),
    ]  # fmt: skip
    assert paged(book, at(2027, 3, 23, 10), at(2027, 3, 27, 23, 30)) == ["head", "head"]


async def test_dry_run_stores_nothing_and_a_file_that_is_no_calendar_changes_nothing(
    book: RotaBook, engine: AsyncEngine
) -> None:
    dry = await run(book, engine, calendar(ALL_DAY_LEAVE, WEEKLY_LEAVE), dry_run=True)
    assert (dry.added, dry.dry_run) == (4, True)
    assert await live_rows(engine) == []
    for text in (f"Leave day {CANARY}", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", ""):
        with pytest.raises(CalendarUnreadable) as refused:
            await run(book, engine, text)
        assert CANARY not in str(refused.value)
    assert await live_rows(engine) == []


def test_the_command_imports_a_file_and_prints_what_it_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator's command on a file, with real time: leave a month ahead."""
    database = tmp_path / "notifier.sqlite3"
    sync = sa.create_engine(f"sqlite:///{database}")
    metadata.create_all(sync)
    sync.dispose()
    (tmp_path / "rota.yaml").write_text(json.dumps(ROTA))
    monkeypatch.setenv("SAFEGUARDING_ENV", "dev")  # the settings of a dev notifier
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    monkeypatch.setenv("NOTIFIER_ROTA_FILE", str(tmp_path / "rota.yaml"))
    first = date.today() + timedelta(days=30)
    ics = tmp_path / "leave.ics"
    ics.write_text(
        calendar(
            ALL_DAY_LEAVE.replace("20270323", f"{first:%Y%m%d}").replace(
                "20270325", f"{first + timedelta(days=1):%Y%m%d}"
            ),
            UNKNOWN_PERSON.replace("20270408", f"{first:%Y%m%d}"),
        )
    )

    assert main([str(ics), "--dry-run"]) == 1  # an event not taken
    dry = capsys.readouterr().out
    assert main([str(ics)]) == 1
    done = capsys.readouterr().out
    assert main([str(tmp_path / "missing.ics")]) == 2

    assert dry.splitlines()[0].startswith("calendar calendar: 1 would be added, 0 would be updated")
    assert done.splitlines() == [
        "calendar calendar: 1 added, 0 updated, 0 removed, 0 unchanged, 0 other events ignored, "
        "0 kept removed (removed by hand), 1 not taken",
        "  unknown-1@cal.example: the person id after Leave or Cover is nobody on the rota",
    ]
    assert CANARY not in dry + done


# The night the clocks go back in 2027 (31 October): 01:30 BST is 00:30 UTC, 01:30 GMT 01:30 UTC.
FIRST_0130 = """BEGIN:VEVENT
UID:fold-1@cal.example
DTSTAMP:20271001T000000Z
SUMMARY:Leave night
DTSTART:20271030T200000Z
DTEND:20271031T003000Z
END:VEVENT"""


async def test_an_event_moved_to_the_second_0130_is_a_change_the_rota_refuses(
    book: RotaBook, engine: AsyncEngine
) -> None:
    """Stored as wall-clock time, the two 01:30s are equal: the move must not pass as unchanged
    (the leave would end an hour early, unreported), and a stored change cannot hold the second."""
    now = datetime(2027, 10, 1, 12, tzinfo=UTC)
    first = await run(book, engine, calendar(FIRST_0130), now)
    assert (first.added, first.problems) == (1, ())
    moved = await run(book, engine, calendar(FIRST_0130.replace("T003000Z", "T013000Z")), now)
    assert (moved.unchanged, moved.updated) == (0, 0)
    assert [problem.message for problem in moved.problems] == [
        "starts_at and ends_at may not fall in the second 01:00-02:00 of the night the clocks go "
        "back: a stored change keeps London wall-clock time, which cannot tell the two apart; use "
        "the rota file, where an override may give its offset"
    ]


def test_the_calendar_libraries_load_only_when_a_calendar_is_read() -> None:
    # 4.5 MB of the notifier's memory that most deployments never use (no feed, no upload).
    script = textwrap.dedent(
        """
        import sys
        from datetime import UTC, datetime
        import services.notifier.main
        from services.notifier.rota_calendar import read_calendar
        from shared.rota import Rota
        before = {"icalendar", "recurring_ical_events"} & set(sys.modules)
        text = "BEGIN:VCALENDAR\\r\\nVERSION:2.0\\r\\nPRODID:-//t//t//EN\\r\\nEND:VCALENDAR\\r\\n"
        rota = Rota.model_validate_json(sys.argv[1])
        reading = read_calendar(text, rota, datetime(2027, 3, 20, tzinfo=UTC))
        after = {"icalendar", "recurring_ical_events"} & set(sys.modules)
        print(sorted(before), sorted(after), len(reading.changes))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(ROTA)], cwd=Path(__file__).parents[2],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[] ['icalendar'] 0"
