"""Redelivered events change nothing; concurrent replays of one contact open one case."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack

import pytest
import sqlalchemy as sa

from services.intake.adapters.tables import cases
from shared.db import create_engine
from shared.topics import REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls, wait_outbox_relayed
from tests.support.kafka import produce, read_all, wait_consumed, wait_for_records
from tests.support.notifier import wait_sends_settled
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_concurrent_replays_open_exactly_one_case(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    intake_db = await database_urls.new("intake")
    async with AsyncExitStack() as stack:
        running = await system.start(
            stack, {"intake": system.intake_app(kafka_bootstrap, topic_prefix, intake_db)}
        )
        client = running.client("intake")
        responses = await asyncio.gather(
            *(system.post_contact(client, example_contact) for _ in range(100))
        )
        # Once intake's outbox is empty, every event it will ever relay for these requests is on
        # the broker: a wrongly duplicated one would be read below.
        outbox_events = await wait_outbox_relayed(intake_db)
        records = await read_all(kafka_bootstrap, [REFERRALS.full_name(topic_prefix)])

    assert sorted(response.status_code for response in responses) == [200] * 99 + [202]
    assert len({response.json()["case_reference"] for response in responses}) == 1
    assert outbox_events == 1
    assert len(records) == 1
    engine = create_engine(intake_db)
    async with engine.connect() as connection:
        assert (
            await connection.execute(sa.select(sa.func.count()).select_from(cases))
        ).scalar() == 1
    await engine.dispose()


async def test_redelivered_referral_event_changes_nothing(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack, kafka_bootstrap, topic_prefix, database_urls
            )
            intake, casework = running.client("intake"), running.client("casework")
            meetings = running.client("meeting_scheduler")
            reference = (await system.post_contact(intake, example_contact)).json()[
                "case_reference"
            ]
            original = (
                await wait_for_records(kafka_bootstrap, REFERRALS.full_name(topic_prefix), 1)
            )[0]
            await smtp.inbox.wait_for(1)
            tasks = await eventually(
                lambda: casework.get(f"/v1/cases/{reference}/tasks"),
                lambda response: len(response.json()) == 6,
                what="tasks",
            )

            # The same event again, as a redelivery after a crash would bring it.
            await produce(kafka_bootstrap, original.topic, original.value, key=original.key)
            # And the same facts under a new event id: the natural keys still hold.
            again = json.loads(original.value) | {
                "event_id": "00000000-0000-4000-8000-000000000001"
            }
            await produce(
                kafka_bootstrap, original.topic, json.dumps(again).encode(), key=original.key
            )
            # Every consumer has handled both copies (it commits after its handler), and the
            # notifier has sent everything it raised: a duplicate effect would now be visible.
            await wait_consumed(
                kafka_bootstrap, ("notifier", "casework", "meeting_scheduler"), [original.topic]
            )
            await wait_sends_settled(running.databases["notifier"])

            assert len(smtp.inbox.messages) == 1
            assert (await casework.get(f"/v1/cases/{reference}/tasks")).json() == tasks.json()
            assert sum(m["items"] for m in (await meetings.get("/v1/meetings")).json()) == 1
