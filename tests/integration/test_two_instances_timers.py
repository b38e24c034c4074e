"""Casework's and the meeting scheduler's timed jobs with two instances on one PostgreSQL
database: every reminder, follow-up, figures report, pace warning and agenda version is published
once, whichever instance gets there first.

"Two instances" here are two sets of the jobs' dependencies in one process, each with its own
engine (its own connection pool), run together with asyncio.gather. That is the race that
matters: PostgreSQL sees two sessions whose transactions interleave at every statement (READ
COMMITTED, as the services run), which is what two processes would give it; what would differ in
two processes (Python's own scheduling) plays no part in the jobs' correctness. Many items are
due at once, so the two instances meet on most of them. (Kafka consumers are not run here: two
consumers in one group get different partitions; the agenda is where items of many cases,
added by whichever instance consumed them, meet, and that is tested below.)"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.casework import figures_reporting
from services.casework.adapters import tables as casework_tables
from services.casework.adapters.criminal_justice_tables import criminal_justice
from services.casework.adapters.referral_tables import referrals
from services.casework.config import load_config
from services.casework.criminal_justice_records import remind_bookings
from services.casework.handlers import CaseworkDeps, chase_overdue
from services.casework.lifecycle import ChasePolicy
from services.casework.main import MIGRATIONS as CASEWORK_MIGRATIONS
from services.casework.referral_records import follow_up_referrals
from services.meeting_scheduler.adapters import tables as scheduler_tables
from services.meeting_scheduler.calendar import load_calendar
from services.meeting_scheduler.handlers import SchedulerDeps, add_to_agenda
from services.meeting_scheduler.main import MIGRATIONS as SCHEDULER_MIGRATIONS
from services.meeting_scheduler.nasn import record_figures
from services.meeting_scheduler.publishing import Publisher
from services.meeting_scheduler.training import PaceWatch
from shared.clock import LONDON, FixedClock
from shared.db import create_engine, migrate
from shared.events import CaseworkFiguresV1
from shared.rota import load_rota
from shared.topics import AGENDA, TASKS
from tests.support import system
from tests.support.events import referral
from tests.support.postgres import Cluster, create_database

pytestmark = pytest.mark.integration

CASES = 30
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday; the case panel's agenda is due
MEETINGS = system.ROOT / "deploy" / "config" / "meetings.yaml"
CASEWORK_CONFIG = system.ROOT / "deploy" / "config" / "casework.yaml"


@pytest.fixture
async def two_engines(
    postgres_cluster: Cluster, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str, Any], Awaitable[tuple[AsyncEngine, AsyncEngine]]]]:
    engines: list[AsyncEngine] = []

    async def make(service: str, migrations: Any) -> tuple[AsyncEngine, AsyncEngine]:
        name = f"{service}_two_{request.node.name[-20:].strip('_')}"
        url = await create_database(postgres_cluster.admin_url, re.sub(r"\W", "_", name).lower())
        first, second = create_engine(url), create_engine(url)
        engines.extend((first, second))
        await migrate(first, migrations, version_table=f"alembic_version_{service}")
        return first, second

    yield make
    for engine in engines:
        await engine.dispose()


def _casework(engine: AsyncEngine, clock: FixedClock) -> CaseworkDeps:
    return CaseworkDeps(
        engine=engine, policy=load_config(CASEWORK_CONFIG).deadline_policy(), chase=ChasePolicy(),
        rota=load_rota(system.ROOT / "deploy" / "config" / "rota.yaml"), clock=clock,
        tasks_topic=TASKS.name, on_commit=lambda: None,
    )  # fmt: skip


async def _events(engine: AsyncEngine, event_type: str) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        payloads = await connection.scalars(sa.select(casework_tables.outbox.c.payload))
        return [e for e in map(json.loads, payloads) if e["event_type"] == event_type]


async def _seed_casework(engine: AsyncEngine) -> None:
    """CASES cases, each with a task two days overdue (both chasing thresholds crossed), an
    interview booked in an hour (both reminders' times passed: the nearer is sent), and a
    referral made a month ago with no answer."""
    async with engine.begin() as connection:
        for number in range(CASES):
            reference, task_id = f"MS-2026-TWO{number:03d}", f"task-{number:03d}"
            await connection.execute(casework_tables.cases.insert().values(
                case_reference=reference, pathway="nrm", recorded_at=NOW - timedelta(days=40),
                opened_at=NOW - timedelta(days=40),
            ))  # fmt: skip
            await connection.execute(casework_tables.tasks.insert().values(
                task_id=task_id, case_reference=reference, kind="housing", status="open",
                due_at=NOW - timedelta(days=2), created_at=NOW - timedelta(days=40),
                assignee="advisor-day",
            ))  # fmt: skip
            await connection.execute(criminal_justice.insert().values(
                case_reference=reference, state="support_booked", booking_id=f"booking-{number}",
                booking_kind="interview", booked_at=NOW + timedelta(hours=1), updated_at=NOW,
                updated_by="advisor-day",
            ))  # fmt: skip
            await connection.execute(referrals.insert().values(
                referral_id=f"referral-{number}", task_id=task_id, case_reference=reference,
                kind="housing", organisation_name="Shelter", made_on=date(2026, 10, 30),
                method="email", outcome="made", created_at=NOW - timedelta(days=31),
                created_by="advisor-day", updated_at=NOW - timedelta(days=31),
                updated_by="advisor-day",
            ))  # fmt: skip


async def test_casework_timers_fire_once_across_two_instances(two_engines: Any) -> None:
    first, second = await two_engines("casework", CASEWORK_MIGRATIONS)
    await _seed_casework(first)
    clock = FixedClock(NOW)
    instances = [_casework(first, clock), _casework(second, clock)]
    engagement = load_config(CASEWORK_CONFIG).engagement_policy()
    jobs: list[Callable[[CaseworkDeps], Awaitable[Any]]] = [
        chase_overdue,
        lambda deps: remind_bookings(deps, engagement),
        lambda deps: follow_up_referrals(deps, 5),
    ]
    sent: Counter[int] = Counter()
    for _ in range(2):  # a second pass of both finds nothing left to send
        for job in jobs:
            results = await asyncio.gather(*(job(deps) for deps in instances))
            for index, result in enumerate(results):
                sent[index] += result or 0
    overdue = await _events(first, "task.overdue.v1")
    reminders = await _events(first, "criminal_justice.reminder.v1")
    follow_ups = await _events(first, "referral.follow_up_due.v1")
    print(f"\ntwo casework instances: {len(overdue)} overdue reminders, {len(reminders)} "
          f"booking reminders, {len(follow_ups)} follow-ups; sent by each: {dict(sent)}")  # fmt: skip
    assert Counter((e["task_id"], e["threshold"]) for e in overdue) == Counter(
        {
            (f"task-{n:03d}", threshold): 1
            for n in range(CASES)
            for threshold in ("due", "escalated")
        }
    )
    assert sorted(e["booking_id"] for e in reminders) == sorted(
        f"booking-{n}" for n in range(CASES)
    )
    assert {e["before"] for e in reminders} == {"2_hours"}  # the nearer offset only
    assert sorted(e["referral_id"] for e in follow_ups) == sorted(
        f"referral-{n}" for n in range(CASES)
    )
    # What each instance says it sent adds up to what was sent: no instance counted a claim lost.
    assert sum(sent.values()) == len(overdue) + len(reminders) + len(follow_ups)
    # Every threshold is chased and every reminder claimed now: a further pass of each reads,
    # and commits no transaction (the chaser had committed one per task and threshold, 60 here,
    # and the reminders one per booking, 30, every pass).
    commits = 0

    def counted(*_: Any) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(first.sync_engine, "commit", counted)
    try:
        assert await chase_overdue(instances[0]) == 0
        assert await remind_bookings(instances[0], engagement) == 0
    finally:
        sa.event.remove(first.sync_engine, "commit", counted)
    assert commits == 0


async def test_figures_are_reported_once_a_period_and_the_newest_is_kept(
    two_engines: Any,
) -> None:
    first, second = await two_engines("casework", CASEWORK_MIGRATIONS)
    reported = []
    clock = FixedClock(datetime(2026, 11, 30, tzinfo=UTC))
    instances = [_casework(first, clock), _casework(second, clock)]
    for step in (0, 3, 20, 1, 6):  # polls at 00:00, 03:00, 23:00, then 00:00, 06:00 next day
        clock.advance(timedelta(hours=step))
        results = await asyncio.gather(
            *(figures_reporting.publish_figures(deps, 100, 24.0) for deps in instances)
        )
        reported.append(sum(results))
    figures = await _events(first, "casework.figures.v1")
    assert reported == [1, 0, 0, 1, 0]
    assert [e["correlation_id"] for e in figures] == [
        "figures-20261130000000",
        "figures-20261201000000",
    ]

    # The meeting scheduler keeps the newest report, whichever order they arrive in.
    scheduler, _ = await two_engines("meeting_scheduler", SCHEDULER_MIGRATIONS)
    newer, older = (CaseworkFiguresV1.model_validate(e) for e in reversed(figures))
    for event in (newer, older):
        await record_figures(event, scheduler)
    async with scheduler.connect() as connection:
        kept = await connection.scalar(sa.select(scheduler_tables.casework_figures.c.reported_at))
    assert kept == newer.occurred_at


def _listed(payload: dict[str, Any]) -> set[str]:
    """The case references an AgendaPublishedV1's Markdown agenda lists."""
    markdown = next(
        base64.b64decode(item["content_base64"]).decode()
        for item in payload["attachments"]
        if item["content_type"] == "text/markdown"
    )
    return set(re.findall(r"MS-2026-AG\d{3}", markdown))


async def test_agenda_publication_is_once_per_version_with_two_instances(
    two_engines: Any,
) -> None:
    first, second = await two_engines("meeting_scheduler", SCHEDULER_MIGRATIONS)
    calendar = load_calendar(MEETINGS)
    clock = FixedClock(NOW)
    consumers = [
        SchedulerDeps(e, calendar, clock, AGENDA.name, lambda: None) for e in (first, second)
    ]
    publishers = [Publisher(e, calendar, clock, AGENDA.name, lambda: None) for e in (first, second)]
    received = NOW - timedelta(days=1)  # before the cut-off: every item goes to 2 December
    added = 0
    published = []
    for wave in range(4):
        # Items of several cases, consumed by either instance (different partitions), while both
        # instances' publishers run: the agenda is what they all meet in.
        cases = [f"MS-2026-AG{wave}{n:02d}" for n in range(4)]
        await asyncio.gather(
            *(add_to_agenda(referral(ref, received), consumers[n % 2]) for n, ref in enumerate(cases)),
            *(publisher.publish_due() for publisher in publishers),
        )  # fmt: skip
        added += len(cases)
    published.append(sum(await asyncio.gather(*(p.publish_due() for p in publishers))))
    published.append(sum(await asyncio.gather(*(p.publish_due() for p in publishers))))
    async with first.connect() as connection:
        payloads = [json.loads(p) for p in await connection.scalars(
            sa.select(scheduler_tables.outbox.c.payload).order_by(scheduler_tables.outbox.c.id)
        )]  # fmt: skip
        versions = (
            (
                await connection.execute(
                    sa.select(scheduler_tables.agenda_publications.c.version).order_by(
                        scheduler_tables.agenda_publications.c.version
                    )
                )
            )
            .scalars()
            .all()
        )
    sent = [p for p in payloads if p["event_type"] == "agenda.published.v1"]
    print(f"\ntwo scheduler instances: {added} items, {len(sent)} agenda versions sent")
    assert [p["version"] for p in sent] == list(range(1, len(sent) + 1)) == list(versions)
    assert published[-1] == 0  # nothing changed since the last version: neither sends again
    # Each version lists everything the one before listed (items are only added here): no
    # version was drafted before the one sent ahead of it.
    lists = [_listed(p) for p in sent]
    for before, after in itertools.pairwise(lists):
        assert before <= after, (sorted(before - after), sorted(after - before))
    assert len(lists[-1]) == added


async def test_a_pace_warning_is_sent_once_by_two_instances(two_engines: Any) -> None:
    first, second = await two_engines("meeting_scheduler", SCHEDULER_MIGRATIONS)
    training = load_calendar(MEETINGS).training
    assert training is not None
    clock = FixedClock(datetime.combine(training.project_starts, datetime.min.time(), LONDON)
                       + timedelta(days=500))  # fmt: skip
    watches = [PaceWatch(e, training, clock, AGENDA.name, lambda: None) for e in (first, second)]
    warned = [sum(await asyncio.gather(*(w.check() for w in watches))) for _ in range(3)]
    async with first.connect() as connection:
        payloads = await connection.scalars(sa.select(scheduler_tables.outbox.c.payload))
        warnings = [
            p for p in map(json.loads, payloads) if p["event_type"] == "training.pace_warning.v1"
        ]
    assert warned == [1, 0, 0]
    assert len(warnings) == 1
