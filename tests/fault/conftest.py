"""The fault suite's rig: the four services as real processes on their own databases (SQLite or
PostgreSQL, by the `database_kind` parameter), a real SMTP sink, a real HTTP SMS gateway, and
ground truth kept by the contact generator."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from shared.topics import POLICE_CONTACTS
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


def generator(intake_url: str, kafka: str, prefix: str, run_id: str) -> Generator:
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
