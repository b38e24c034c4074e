"""The fault suite's rig: the four services as real processes on their own databases (SQLite or
PostgreSQL, by the `database_kind` parameter), a real SMTP sink, a real HTTP SMS gateway, and
ground truth kept by the contact generator; and `caught_up`, the positive signal every "nothing
else happened" check waits for: each consumer group has committed every record of its topics."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import create_async_engine

from shared.topics import AGENDA, ALERTS, ALL_TOPICS, POLICE_CONTACTS, REFERRALS, TASKS, TopicSpec
from tests.support.databases import DatabaseUrls
from tests.support.ground_truth import Contact, Generator, Tally, tally
from tests.support.http_gateway import Gateway, RunningGateway
from tests.support.live import SERVICES
from tests.support.smtp import SmtpSink
from tests.support.system import ROOT

pytestmark = pytest.mark.fault


@dataclass
class Sinks:
    gateway: Gateway
    smtp: SmtpSink

    def sms_titles(self) -> list[str]:
        return [item.title for item in self.gateway.received if item.path.startswith("/sms/")]

    def email_subjects(self) -> list[str]:
        return [str(message["subject"]) for message in self.smtp.inbox.messages]


@pytest.fixture
async def sinks() -> AsyncIterator[Sinks]:
    async with RunningGateway() as gateway:
        with SmtpSink() as smtp:
            yield Sinks(gateway, smtp)


@pytest.fixture
async def service_databases(database_urls: DatabaseUrls) -> dict[str, str]:
    return {name: await database_urls.new(name) for name in SERVICES}


def generator(intake_url: str | Sequence[str], kafka: str, prefix: str, run_id: str) -> Generator:
    return Generator(intake_url, kafka, POLICE_CONTACTS.full_name(prefix), run_id)


async def settled(
    databases: dict[str, str], contacts: list[Contact], sinks: Sinks, within: float
) -> tuple[Tally, float]:
    """Poll the databases and sinks until every acknowledged contact has all its effects (or the
    time runs out); returns the last tally and the seconds it took."""
    started = time.monotonic()
    while True:
        found = await tally(databases, contacts, sinks.sms_titles(), sinks.email_subjects())
        complete = not found.problems(contacts) and not found.missing_messages(contacts)
        if complete or time.monotonic() - started > within:
            return found, time.monotonic() - started
        await asyncio.sleep(1.0)


# Who consumes what (the services' router.py files): topic → consumer groups.
SUBSCRIPTIONS: dict[TopicSpec, tuple[str, ...]] = {
    POLICE_CONTACTS: ("intake",),
    REFERRALS: ("notifier", "casework", "meeting_scheduler"),
    TASKS: ("notifier.tasks", "meeting_scheduler.tasks"),
    AGENDA: ("notifier.agenda",),
    ALERTS: ("casework.alerts", "meeting_scheduler.alerts"),
}


@dataclass(frozen=True)
class State:
    rows: dict[str, int]  # "service.table" → rows
    records: dict[str, int]  # topic → records (sum of its partitions' end offsets)
    sms: int
    emails: int


async def row_counts(databases: dict[str, str]) -> dict[str, int]:
    """Rows of every table of every service database, the tables found by reflection."""
    counts: dict[str, int] = {}
    for service, url in databases.items():
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                metadata = sa.MetaData()
                await connection.run_sync(metadata.reflect)
                for name, table in sorted(metadata.tables.items()):
                    query = sa.select(sa.func.count()).select_from(table)
                    counts[f"{service}.{name}"] = (await connection.execute(query)).scalar_one()
        finally:
            await engine.dispose()
    return counts


class Offsets:
    """End offsets of the test's topics and the consumer groups' committed offsets."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> Offsets:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    def partitions(self, spec: TopicSpec) -> list[TopicPartition]:
        return [TopicPartition(spec.full_name(self.prefix), p) for p in range(spec.partitions)]

    async def ends(self) -> dict[TopicPartition, int]:
        wanted = [tp for spec in ALL_TOPICS for tp in self.partitions(spec)]
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(wanted)
        return ends

    async def lag(self, ends: dict[TopicPartition, int]) -> int:
        """Records not yet committed by the group that consumes them, over every subscription."""
        behind = 0
        for spec, groups in SUBSCRIPTIONS.items():
            for group in groups:
                committed = await self.admin.list_consumer_group_offsets(group)
                for tp in self.partitions(spec):
                    done = committed[tp].offset if tp in committed else 0
                    behind += max(ends[tp] - max(done, 0), 0)
        return behind


async def state(offsets: Offsets, databases: dict[str, str], sinks: Sinks) -> tuple[State, int]:
    ends = await offsets.ends()
    records: Counter[str] = Counter()
    for tp, end in ends.items():
        records[tp.topic.removeprefix(offsets.prefix)] += end
    found = State(
        await row_counts(databases),
        dict(sorted(records.items())),
        len(sinks.sms_titles()),
        len(sinks.email_subjects()),
    )
    return found, await offsets.lag(ends)


async def caught_up(
    offsets: Offsets,
    databases: dict[str, str],
    sinks: Sinks,
    steady: float = 4.0,
    within: float = 60,
) -> tuple[State, float]:
    """Wait until every group has committed every record and nothing changed for `steady` s."""
    started = time.monotonic()
    last: State | None = None
    since = started
    while True:
        now_state, behind = await state(offsets, databases, sinks)
        now = time.monotonic()
        if behind or now_state != last:
            last, since = now_state, now
        elif now - since >= steady:
            return now_state, now - started
        assert now - started < within, f"not caught up in {within} s: lag {behind}, {now_state}"
        await asyncio.sleep(0.5)


def fault_scale() -> tuple[int, float]:
    """(contacts, contacts a second) for the streaming scenarios. FAULT_CONTACTS and FAULT_RATE
    override the defaults, e.g. for a longer soak before a release."""
    return int(os.environ.get("FAULT_CONTACTS", "1200")), float(os.environ.get("FAULT_RATE", "20"))


def report(
    scenario: str,
    counts: dict[str, object],
    found: Tally,
    contacts: list[Contact],
    provider_duplicates: int | None = None,
) -> None:
    """One line a scenario, printed so the figures can be quoted (pytest -s, or the -rA summary).
    `provider_duplicates` replaces the count by case reference where escalation legitimately
    messages a case more than once."""
    problems = found.problems(contacts)
    figures = counts | {
        "processed": found.acknowledged - sum(problems.values()),
        "missing/duplicated effects": problems or 0,
        "provider duplicates": (
            found.message_duplicates() if provider_duplicates is None else provider_duplicates
        ),
    }
    print(f"\n{scenario}: " + ", ".join(f"{key} {value}" for key, value in figures.items()))


def early_agendas(folder: Path) -> dict[str, str]:
    """Meeting scheduler settings that publish every upcoming agenda within a second: the shipped
    calendar publishes 48 hours ahead and looks every minute, so on most days a test's cases would
    not reach a published agenda (its event, its attachments, the coordinator's email) at all."""
    calendar = yaml.safe_load((ROOT / "deploy" / "config" / "meetings.yaml").read_text())
    for series in calendar["series"]:
        series["publish_before_hours"] = 24 * 14
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meetings.yaml").write_text(yaml.safe_dump(calendar))
    return {
        "MEETINGS_CALENDAR_FILE": str(folder / "meetings.yaml"),
        "MEETINGS_PUBLISH_POLL_SECONDS": "1",
    }
