"""Every SQL statement on a contact's path is one SQLAlchemy's statement cache holds.

A statement with no cache key is compiled afresh each time it runs, and so is one whose cache key
changes with its values. Three multi-row inserts written as `.values([...])` were compiled once
per referral or alert: casework's tasks, the scheduler's copy of them and the notifier's
escalation steps (README, round two, sixteenth part). This test sends two contacts through all
four services in this process, on SQLite and PostgreSQL, records every statement they execute
after start-up (the migrations' DDL has no cache key, and runs once), and fails on a statement
with no cache key, or one that missed a database's cache more than once.

What it covers is the path of a contact: intake, the alert and its first step, the tasks and the
agenda item, with the relays and timers that run meanwhile. The HTTP APIs, later escalation
steps and the console are not exercised here."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine

import shared.app
from services.meeting_scheduler.adapters.tables import case_tasks
from services.notifier.adapters.tables import escalation_steps
from shared.db import create_engine
from shared.topics import ALERTS, REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls, count_rows, wait_outbox_relayed
from tests.support.kafka import wait_consumed
from tests.support.notifier import wait_sends_settled
from tests.support.smtp import SmtpSink

pytestmark = pytest.mark.integration


async def test_no_statement_on_a_contacts_path_is_compiled_each_time(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: Counter[tuple[str, str, str]] = Counter()  # (database, cache outcome, statement)

    def record(
        connection: Any, cursor: Any, statement: str, parameters: Any,
        context: DefaultExecutionContext, executemany: bool,
    ) -> None:  # fmt: skip
        database = str(connection.engine.url.database)  # each service's cache is its engine's
        seen[(database, str(context.cache_hit), " ".join(statement.split())[:120])] += 1

    second_contact = json.dumps(
        json.loads(example_contact) | {"police_reference": "NFK/2026/CACHE2"}
    ).encode()

    # The services' own engines, caught as shared/app.py makes them: the test's helpers
    # (count_rows) open a new engine, so a cold cache, for each read, and are left out.
    engines: list[AsyncEngine] = []

    def kept(url: str) -> AsyncEngine:
        engines.append(made := create_engine(url))
        return made

    monkeypatch.setattr(shared.app, "create_engine", kept)
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack, kafka_bootstrap, topic_prefix, database_urls
            )
            assert len(engines) == 4
            for engine in engines:
                event.listen(engine.sync_engine, "after_cursor_execute", record)
                stack.callback(event.remove, engine.sync_engine, "after_cursor_execute", record)

            for number, contact in enumerate((example_contact, second_contact), start=1):
                posted = await system.post_contact(running.client("intake"), contact)
                assert posted.status_code == 202, posted.text
                await smtp.inbox.wait_for(number, within=15)
            # Everything the two contacts set off has been handled: each topic consumed by every
            # group that reads it, after the events its handlers made were relayed.
            await wait_consumed(
                kafka_bootstrap, ("notifier", "casework", "meeting_scheduler"),
                [REFERRALS.full_name(topic_prefix)],
            )  # fmt: skip
            for name in ("notifier", "casework"):
                await wait_outbox_relayed(running.databases[name])
            await wait_consumed(
                kafka_bootstrap, ("notifier.tasks", "meeting_scheduler.tasks"),
                [TASKS.full_name(topic_prefix)],
            )  # fmt: skip
            await wait_consumed(
                kafka_bootstrap, ("casework.alerts", "meeting_scheduler.alerts"),
                [ALERTS.full_name(topic_prefix)],
            )  # fmt: skip
            for name in ("intake", "notifier", "casework", "meeting_scheduler"):
                await wait_outbox_relayed(running.databases[name])
            await wait_sends_settled(running.databases["notifier"])
        # A positive control: the three inserts this test was written for stored rows.
        for service, held in (("meeting_scheduler", case_tasks), ("notifier", escalation_steps)):
            query = sa.select(sa.func.count()).select_from(held)
            assert await count_rows(running.databases[service], query) > 0, held.name

    inserts = [text for (_, _, text) in seen if text.startswith("INSERT INTO")]
    for table in ("tasks", "case_tasks", "escalation_steps"):
        assert any(text.startswith(f"INSERT INTO {table} ") for text in inserts), table
    uncached = {text: n for (_, hit, text), n in seen.items() if hit == "CacheStats.NO_CACHE_KEY"}
    assert uncached == {}, "statements with no cache key: compiled afresh each time they run"
    missed_again = {
        (database, text): n
        for (database, hit, text), n in seen.items()
        if hit == "CacheStats.CACHE_MISS" and n > 1
    }
    assert missed_again == {}, "statements whose cache key changes with their values"
    assert any(hit == "CacheStats.CACHE_HIT" for _, hit, _ in seen)  # the second contact's
