"""Every SQL statement on a contact's path is one SQLAlchemy's statement cache can hold.

A statement with no cache key is compiled afresh each time it runs. Three multi-row inserts
written as `.values([...])` were, once per referral or alert: casework's tasks, the scheduler's
copy of them and the notifier's escalation steps (README, round two, sixteenth part). This test
runs one contact through all four services in this process, on SQLite and PostgreSQL, and
records every statement they execute after start-up (the migrations' DDL has no cache key, and
runs once)."""

from __future__ import annotations

from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine.default import DefaultExecutionContext

from services.meeting_scheduler.adapters.tables import case_tasks
from services.notifier.adapters.tables import escalation_steps
from shared.topics import ALERTS, REFERRALS, TASKS
from tests.support import system
from tests.support.databases import DatabaseUrls, count_rows, wait_outbox_relayed
from tests.support.kafka import wait_consumed
from tests.support.notifier import wait_sends_settled
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_no_statement_on_a_contacts_path_is_compiled_each_time(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: Counter[tuple[str, str]] = Counter()

    def record(
        connection: Any, cursor: Any, statement: str, parameters: Any,
        context: DefaultExecutionContext, executemany: bool,
    ) -> None:  # fmt: skip
        seen[(str(context.cache_hit), " ".join(statement.split())[:120])] += 1

    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack, kafka_bootstrap, topic_prefix, database_urls
            )
            event.listen(sa.engine.Engine, "after_cursor_execute", record)
            stack.callback(event.remove, sa.engine.Engine, "after_cursor_execute", record)

            posted = await system.post_contact(running.client("intake"), example_contact)
            assert posted.status_code == 202, posted.text
            await smtp.inbox.wait_for(1, within=15)
            # The three inserts this test was written for ran (a positive control) ...
            query = sa.select(sa.func.count()).select_from(case_tasks)
            await eventually(
                lambda: count_rows(running.databases["meeting_scheduler"], query), bool,
                what="the scheduler's copy of the case's tasks",
            )  # fmt: skip
            steps = sa.select(sa.func.count()).select_from(escalation_steps)
            assert await count_rows(running.databases["notifier"], steps) > 0
            # ... and everything the contact set off has been handled.
            await wait_consumed(
                kafka_bootstrap, ("notifier", "casework", "meeting_scheduler"),
                [REFERRALS.full_name(topic_prefix)],
            )  # fmt: skip
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

    inserts = [text for (_, text) in seen if text.startswith("INSERT INTO")]
    for table in ("tasks", "case_tasks", "escalation_steps"):
        assert any(text.startswith(f"INSERT INTO {table} ") for text in inserts), table
    uncached = {text: n for (hit, text), n in seen.items() if hit == "CacheStats.NO_CACHE_KEY"}
    assert uncached == {}, "statements compiled afresh each time they run"
