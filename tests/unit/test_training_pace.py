"""Training and awareness sessions (services/meeting_scheduler/training.py, training_api.py): the
straight-line pace to the target with values worked out by hand below, the pace warning's "once
per shortfall level" against a real SQLite database, and the API's refusals (numbers for times,
unknown fields, duplicate audiences, http links, personal data shapes in the topic)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.meeting_scheduler.adapters.tables import metadata, outbox, training_pace_warnings
from services.meeting_scheduler.calendar import TrainingSeries, load_calendar
from services.meeting_scheduler.training import PaceWatch, expected_by, pace, period_end
from services.meeting_scheduler.training_api import (
    DATE_TIME_PATTERN,
    MATERIALS_URL_PATTERN,
    TOPIC_PATTERN,
    add_training_routes,
)
from shared.clock import LONDON, FixedClock
from shared.db import create_engine
from shared.problems import install_problem_handlers
from shared.staff_auth import Staff, StaffAuth, StaffOidcSettings, StaffRole, StaffRoute
from tests.unit.builders import MEETINGS_FILE

SERIES = TrainingSeries(project_starts=date(2026, 4, 1), period_years=3, target=3)
# 1 Apr 2026 to 1 Apr 2029: 365 days to 1 Apr 2027, 366 to 1 Apr 2028 (29 Feb 2028), 365 to
# 1 Apr 2029.
PERIOD_DAYS = 365 + 366 + 365


def test_the_period_is_three_calendar_years() -> None:
    assert period_end(SERIES) == date(2029, 4, 1)
    assert (period_end(SERIES) - SERIES.project_starts).days == PERIOD_DAYS == 1096


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 1, 1), 0),  # before the project: nothing due, never negative
        (date(2026, 4, 1), 0),  # day 0
        (date(2027, 4, 1), 0),  # day 365: 3 x 365 = 1095 < 1096
        (date(2027, 4, 2), 1),  # day 366: 3 x 366 = 1098 >= 1096
        (date(2028, 3, 31), 1),  # day 730: 2190 < 2 x 1096 = 2192
        (date(2028, 4, 1), 2),  # day 731: 2193 >= 2192
        (date(2029, 3, 31), 2),  # day 1095: 3285 < 3288
        (date(2029, 4, 1), 3),  # the period's end: the whole target
        (date(2031, 1, 1), 3),  # after it: still the target, not more
    ],
)
def test_expected_by_now_is_the_straight_line_rounded_down(today: date, expected: int) -> None:
    assert expected_by(SERIES, today) == expected


def test_behind_and_shortfall() -> None:
    found = pace(SERIES, date(2028, 4, 1), held=1)  # 2 due, 1 held
    assert (found.expected_by_now, found.behind, found.shortfall) == (2, True, 1)
    ahead = pace(SERIES, date(2026, 6, 1), held=1)  # none due yet, 1 held
    assert (ahead.expected_by_now, ahead.behind, ahead.shortfall) == (0, False, 0)


def test_a_leap_day_start_ends_on_28_february() -> None:
    leap = TrainingSeries(project_starts=date(2028, 2, 29), period_years=1, target=1)
    assert period_end(leap) == date(2029, 2, 28)


def test_the_shipped_calendar_has_a_training_series() -> None:
    training = load_calendar(MEETINGS_FILE).training
    assert training is not None
    assert (training.id, training.kind, training.period_years, training.target) == (
        "training", "training", 3, 3,
    )  # fmt: skip


def move(clock: FixedClock, to: datetime) -> None:
    clock.advance(to - clock.now())


# The pace warning, on a real SQLite database ------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'meetings.sqlite3'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def warnings_sent(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        payloads = (
            await connection.execute(sa.select(outbox.c.payload).order_by(outbox.c.id))
        ).scalars()
        return [json.loads(payload) for payload in payloads]


def api(engine: AsyncEngine, clock: FixedClock, woken: list[int]) -> httpx.AsyncClient:
    app = FastAPI()
    app.router.route_class = StaffRoute
    install_problem_handlers(app)
    auth = StaffAuth(
        StaffOidcSettings(),
        static_tokens={
            "tok-coordinator": Staff("coordinator", frozenset({StaffRole.MEETING_COORDINATOR})),
            "tok-head": Staff("head", frozenset({StaffRole.HEAD_OF_SERVICE})),
            "tok-advisor": Staff("advisor-day", frozenset({StaffRole.ADVISOR})),
        },
        deployed=False,
    )
    add_training_routes(app, engine, SERIES, clock, auth, lambda: woken.append(1))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://scheduler",
        headers={"Authorization": "Bearer tok-coordinator"},
    )


SESSION = {
    "starts_at": "2028-05-10T14:00",
    "topic": "Spotting labour exploitation",
    "audience": ["Norfolk Constabulary", "NHS Norfolk & Waveney ICB"],
    "materials_url": "https://training.example.org/slides/labour-2028.pdf",
}


async def test_warned_once_per_shortfall_level_and_again_after_catching_up(
    engine: AsyncEngine,
) -> None:
    clock = FixedClock(datetime(2027, 4, 2, 9, 0, tzinfo=LONDON))  # 1 due, none held
    watch = PaceWatch(engine, SERIES, clock, "agenda", lambda: None)
    assert await watch.check() is True
    assert await watch.check() is False  # the same level: not again
    [first] = await warnings_sent(engine)
    assert first["event_type"] == "training.pace_warning.v1"
    assert {k: first[k] for k in ("held", "expected_by_now", "target")} == {
        "held": 0, "expected_by_now": 1, "target": 3,
    }  # fmt: skip
    assert (first["project_starts"], first["period_ends"]) == ("2026-04-01", "2029-04-01")

    clock.advance(timedelta(days=300))  # 25 Jan 2028: still 1 due (day 664: 1992 < 2192)
    assert await watch.check() is False
    move(clock, datetime(2028, 4, 1, 9, 0, tzinfo=LONDON))  # 2 due now: the shortfall rose
    assert await watch.check() is True
    assert await watch.check() is False
    assert [w["expected_by_now"] for w in await warnings_sent(engine)] == [1, 2]

    # Two sessions held: caught up, the level is forgotten...
    woken: list[int] = []
    async with api(engine, clock, woken) as client:
        for day in ("2028-02-01T10:00", "2028-03-01T10:00"):
            added = await client.post("/v1/training-sessions", json=SESSION | {"starts_at": day})
            assert added.status_code == 201, added.text
            url = f"/v1/training-sessions/{added.json()['session_id']}/attendance"
            held = await client.put(url, json={"attending": 12})
            assert held.status_code == 200, held.text
            assert held.json()["status"] == "held"
        listed = (await client.get("/v1/training-sessions")).json()
    assert woken == [1, 1]  # the pace check is woken after each attendance
    assert {k: listed["progress"][k] for k in ("held", "expected_by_now", "behind")} == {
        "held": 2, "expected_by_now": 2, "behind": False,
    }  # fmt: skip
    assert await watch.check() is False
    async with engine.connect() as connection:
        assert (await connection.execute(sa.select(training_pace_warnings))).all() == []
    # ...so when the line passes the sessions held again, the head of service hears of it.
    move(clock, datetime(2029, 4, 1, 9, 0, tzinfo=LONDON))  # 3 due, 2 held
    assert await watch.check() is True
    assert [(w["held"], w["expected_by_now"]) for w in await warnings_sent(engine)] == [
        (0, 1), (0, 2), (2, 3),
    ]  # fmt: skip


async def test_not_behind_no_warning(engine: AsyncEngine) -> None:
    clock = FixedClock(datetime(2027, 4, 1, 23, 0, tzinfo=LONDON))  # day 365: none due yet
    assert await PaceWatch(engine, SERIES, clock, "agenda", lambda: None).check() is False
    assert await warnings_sent(engine) == []


# The API -------------------------------------------------------------------------------------


async def test_sessions_planned_then_held_with_progress(engine: AsyncEngine) -> None:
    clock = FixedClock(datetime(2028, 5, 1, 12, 0, tzinfo=UTC))
    async with api(engine, clock, []) as client:
        added = await client.post("/v1/training-sessions", json=SESSION)
        assert added.status_code == 201, added.text
        view = added.json()
        # 14:00 London wall-clock in May is 13:00 UTC (BST).
        assert view["starts_at"] == "2028-05-10T13:00:00Z"
        assert (view["status"], view["attending"], view["audience"]) == (
            "planned", None, SESSION["audience"],
        )  # fmt: skip
        url = f"/v1/training-sessions/{view['session_id']}/attendance"
        early = await client.put(url, json={"attending": 20})
        assert early.status_code == 409, early.text
        listed = (await client.get("/v1/training-sessions")).json()
        assert listed["progress"] == {
            "project_starts": "2026-04-01", "period_ends": "2029-04-01", "period_years": 3,
            "target": 3, "held": 0, "planned": 1, "awaiting_attendance": 0,
            # 1 May 2028 is day 761: 3 x 761 = 2283 >= 2192, < 3288
            "expected_by_now": 2, "behind": True, "shortfall": 2,
        }  # fmt: skip
        move(clock, datetime(2028, 5, 10, 16, 0, tzinfo=UTC))
        assert (await client.get("/v1/training-sessions")).json()["progress"][
            "awaiting_attendance"
        ] == 1
        held = await client.put(url, json={"attending": 20})
        assert held.status_code == 200, held.text
        assert (held.json()["status"], held.json()["attending"]) == ("held", 20)
        # An aware time is kept as the instant it names.
        aware = await client.post(
            "/v1/training-sessions", json=SESSION | {"starts_at": "2028-06-01T09:30:00+02:00"}
        )
        assert aware.json()["starts_at"] == "2028-06-01T07:30:00Z"
        missing = await client.put(
            "/v1/training-sessions/00000000-0000-4000-8000-000000000000/attendance",
            json={"attending": 3},
        )
        assert missing.status_code == 404
        # Head of service too; not an advisor; not without a token.
        head = await client.get(
            "/v1/training-sessions", headers={"Authorization": "Bearer tok-head"}
        )
        assert head.status_code == 200
        advisor = await client.get(
            "/v1/training-sessions", headers={"Authorization": "Bearer tok-advisor"}
        )
        assert advisor.status_code == 403
        anonymous = await client.get("/v1/training-sessions", headers={"Authorization": ""})
        assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"starts_at": 1840000000}, "starts_at"),  # a number is not a time
        ({"starts_at": "1840000000"}, "starts_at"),
        ({"starts_at": "2028-02-30T10:00"}, "starts_at"),  # no such day
        ({"starts_at": "2027-02-29T10:00"}, "starts_at"),  # not a leap year
        ({"starts_at": "1999-12-31T10:00Z"}, "starts_at"),
        ({"starts_at": "2028-05-10"}, "starts_at"),  # a date without a time
        ({"topic": "Case MS-2026-7KQ2M4 debrief"}, "topic"),
        ({"topic": "Call 07700900417"}, "topic"),
        ({"topic": "ask jo@example.org"}, "topic"),
        ({"topic": "Line one\nline two"}, "topic"),
        ({"topic": " padded"}, "topic"),
        ({"audience": []}, "audience"),
        ({"audience": ["Norfolk Constabulary", "Norfolk Constabulary"]}, "audience"),
        ({"audience": ["Bad\tname"]}, "audience"),
        ({"materials_url": "http://training.example.org/slides.pdf"}, "materials_url"),
        ({"materials_url": "https://user@host.example/x"}, "materials_url"),
        ({"materials_url": "javascript:alert(1)"}, "materials_url"),
        ({"organiser": "Jane Smith"}, "a field not in the contract"),  # never echoed
    ],
)
async def test_refused_and_nothing_recorded(
    engine: AsyncEngine, change: dict[str, Any], field: str
) -> None:
    clock = FixedClock(datetime(2028, 5, 1, 12, 0, tzinfo=UTC))
    async with api(engine, clock, []) as client:
        refused = await client.post("/v1/training-sessions", json=SESSION | change)
        assert refused.status_code == 422, refused.text
        assert field in refused.text
        assert "Jane" not in refused.text  # values are never echoed
        assert "07700" not in refused.text
        assert (await client.get("/v1/training-sessions")).json()["sessions"] == []


@pytest.mark.parametrize("attending", [-1, 2.5, "12", True, None, 10001, float("1e4") + 1])
async def test_attendance_is_a_whole_number_from_zero(engine: AsyncEngine, attending: Any) -> None:
    clock = FixedClock(datetime(2028, 6, 1, 12, 0, tzinfo=UTC))
    async with api(engine, clock, []) as client:
        added = (await client.post("/v1/training-sessions", json=SESSION)).json()
        url = f"/v1/training-sessions/{added['session_id']}/attendance"
        refused = await client.put(url, json={"attending": attending})
        assert refused.status_code == 422, refused.text
        assert (await client.put(url, json={"attending": 0})).json()["status"] == "held"


async def test_attendance_written_as_a_whole_float_is_that_number(engine: AsyncEngine) -> None:
    """JSON Schema's integer includes 12.0 (the contract test sends it): taken as 12."""
    clock = FixedClock(datetime(2028, 6, 1, 12, 0, tzinfo=UTC))
    async with api(engine, clock, []) as client:
        added = (await client.post("/v1/training-sessions", json=SESSION)).json()
        url = f"/v1/training-sessions/{added['session_id']}/attendance"
        held = await client.put(url, json={"attending": 12.0})
        assert (held.status_code, held.json()["attending"]) == (200, 12), held.text


def test_published_patterns_agree_with_the_validation() -> None:
    """The schema's patterns (what the contract test's fuzzer generates from) say what the
    validators accept: examples both ways."""
    for good in ("2028-02-29T10:00", "2027-12-31T23:59:59.123456Z", "2030-06-30T00:00+05:30"):
        assert re.fullmatch(DATE_TIME_PATTERN, good)
    for bad in ("2027-02-29T10:00", "2027-04-31T10:00", "2027-1-01T10:00", "2027-01-01 10:00"):
        assert not re.fullmatch(DATE_TIME_PATTERN, bad)
    for good in ("Spotting labour exploitation", "NRM: what first responders do", "Q&A (GLAA)"):
        assert re.fullmatch(TOPIC_PATTERN, good)
    for bad in ("ms-2026-ABCD follow-up", "Call 01632960871", "jo@example.org"):
        assert not re.fullmatch(TOPIC_PATTERN, bad)
    assert re.fullmatch(MATERIALS_URL_PATTERN, "https://example.org:8443/a?b=c#d")
    assert not re.fullmatch(MATERIALS_URL_PATTERN, "https://exa mple.org/")
