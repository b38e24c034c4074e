"""Duplicates: everything delivered twice changes nothing.

A stream of contacts is processed to the end (cases, alerts, notifications, tasks, agenda items) and
some alerts are acknowledged, by link and by code. Then every record of every topic the services
consume is published again, keys, headers and partitions kept (Kafka's at-least-once delivery, an
outbox relayed twice, an operator's replay), every police POST is sent again with its original
signed headers (a captured request: refused) and with a fresh request id (a police retry: answered
200, nothing new), and every acknowledgement is sent again. Once every consumer group has caught
up, no table may hold a row more, no SMS or email may have been sent, and no topic may hold an
event beyond those republished by the test.

The one table that legitimately grows is intake's `request_ids`: each fresh request id is recorded
(that is what refuses its own replay), so it must grow by exactly the number of fresh-id replays.
`processed_events` does not grow: a redelivered event finds its row (shared/db.py claim_event).
The dead-letter topic is not republished: no service consumes it."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import create_async_engine

from shared.kafka import PRODUCER_SAFETY
from shared.topics import AGENDA, ALERTS, ALL_TOPICS, POLICE_CONTACTS, REFERRALS, TASKS, TopicSpec
from tests.fault.conftest import Sinks, early_agendas, generator, report, settled
from tests.support import system
from tests.support.ground_truth import summary, tally
from tests.support.kafka import read_all
from tests.support.live import LiveSystem

pytestmark = pytest.mark.fault

CONTACTS, RATE = 60, 20.0
ACKS_EACH_WAY = 5  # alerts acknowledged by link, and as many by code
# Who consumes what (the services' router.py files): topic → consumer groups.
SUBSCRIPTIONS: dict[TopicSpec, tuple[str, ...]] = {
    POLICE_CONTACTS: ("intake",),
    REFERRALS: ("notifier", "casework", "meeting_scheduler"),
    TASKS: ("notifier.tasks", "meeting_scheduler.tasks"),
    AGENDA: ("notifier.agenda",),
    ALERTS: ("casework.alerts",),
}
GROWS_ON_REPLAY = "intake.request_ids"
ACK_TOKEN = re.compile(r"/ack/([A-Za-z0-9_=-]+\.[0-9a-f]{32})")
ACK_CODE = re.compile(r"\bAck ([A-HJ-NP-Z2-9]{8})\b")


def extra_env(folder: Path) -> dict[str, dict[str, str]]:
    """Agendas are published up to 14 days ahead (the shipped calendar: 48 hours), so that on any
    day of the week the agenda of these contacts is published (AgendaPublishedV1, and an email
    to the coordinator) and its events are among those replayed; and the publisher looks every
    second rather than every minute, so that every version due is published before the snapshot."""
    return {"meeting_scheduler": early_agendas(folder)}


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


async def test_everything_twice_changes_nothing(
    kafka_bootstrap: str,
    topic_prefix: str,
    tmp_path: Path,
    sinks: Sinks,
    service_databases: dict[str, str],
    database_kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Keep the signed headers of every POST the generator sends, to replay them as captured.
    sent_headers: dict[bytes, dict[str, str]] = {}
    sign = system.signed

    def recording(
        body: bytes, request_id: str | None = None, timestamp: int | None = None
    ) -> dict[str, str]:
        headers = sign(body, request_id, timestamp)
        sent_headers[body] = headers
        return headers

    monkeypatch.setattr(system, "signed", recording)

    async with (
        LiveSystem(
            kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
            sinks.gateway, sinks.smtp.port, extra_env=extra_env(tmp_path / "config"),
        ) as live,
        Offsets(kafka_bootstrap, topic_prefix) as offsets,
        httpx.AsyncClient(timeout=20) as client,
    ):  # fmt: skip
        gen = generator(live["intake"].url, kafka_bootstrap, topic_prefix, "duplicates")
        contacts = await gen.run(CONTACTS, RATE)
        found, settle_seconds = await settled(service_databases, contacts, sinks, within=90)
        assert found.problems(contacts) == {}
        assert found.missing_messages(contacts) == 0

        # Acknowledge some alerts: by the link in the email, and by the code in the SMS.
        notifier = live["notifier"].url
        cases = sorted(found.references.values())
        emails = [m.get_body(preferencelist=("plain",)) for m in sinks.smtp.inbox.messages]
        email_texts = [body.get_content() for body in emails if body is not None]
        sms_texts = [item.message for item in sinks.gateway.received]
        acks: list[tuple[str, dict[str, str] | None]] = []  # (url, JSON body or None)
        for case in cases[:ACKS_EACH_WAY]:
            text = next(t for t in email_texts if case in t)
            token = ACK_TOKEN.search(text)
            assert token is not None, text
            acks.append((f"{notifier}/ack/{token.group(1)}", None))
        for case in cases[ACKS_EACH_WAY : 2 * ACKS_EACH_WAY]:
            text = next(t for t in sms_texts if case in t)
            code = ACK_CODE.search(text)
            assert code is not None, text
            acks.append((f"{notifier}/v1/acks", {"code": code.group(1)}))
        for url, body in acks:
            answer = await client.post(url, json=body)
            assert answer.status_code == 200, answer.text
        before, first_wait = await caught_up(offsets, service_databases, sinks)
        before_tally = await tally(
            service_databases, contacts, sinks.sms_titles(), sinks.email_subjects()
        )

        # (a) Every record of every consumed topic, published again as it was.
        consumed = [spec.full_name(topic_prefix) for spec in SUBSCRIPTIONS]
        records = await read_all(kafka_bootstrap, consumed, quiet_for=2.0, within=60)
        republished: Counter[str] = Counter()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **PRODUCER_SAFETY)
        await producer.start()
        try:
            sends = [
                await producer.send(
                    record.topic,
                    record.value,
                    key=record.key,
                    partition=record.partition,
                    headers=list(record.headers),
                )
                for record in records
            ]
            await asyncio.gather(*sends)
        finally:
            await producer.stop()
        for record in records:
            republished[record.topic.removeprefix(topic_prefix)] += 1
        for spec in SUBSCRIPTIONS:  # every record was read back before republishing
            assert republished[spec.name] == before.records[spec.name], spec.name
        agendas = sum(b'"agenda.published.v1"' in (record.value or b"") for record in records)
        assert agendas >= 1, "an agenda was published, and its events are replayed"

        # (b) Every police POST again: as captured (same request id) and as a police retry.
        replies: Counter[str] = Counter()
        intake = live["intake"].url
        for contact in contacts:
            if contact.via != "http" or not contact.acknowledged:
                continue
            captured = await client.post(
                f"{intake}/v1/contacts", content=contact.body, headers=sent_headers[contact.body]
            )
            replies[f"same request id {captured.status_code}"] += 1
            assert captured.status_code == 403, captured.text
            retried = await client.post(
                f"{intake}/v1/contacts", content=contact.body, headers=sign(contact.body)
            )
            replies[f"fresh request id {retried.status_code}"] += 1
            assert retried.status_code == 200, retried.text
            assert retried.json() == {
                "case_reference": found.references[contact.police_reference],
                "outcome": "replayed",
            }
        # ... and every acknowledgement again.
        for url, body in acks:
            answer = await client.post(url, json=body)
            replies[f"ack again {answer.status_code}"] += 1
            assert answer.status_code == 200, answer.text
            if body is not None:
                assert answer.json()["already_acknowledged"] is True
            else:
                assert "already acknowledged" in answer.text

        after, second_wait = await caught_up(offsets, service_databases, sinks)
        after_tally = await tally(
            service_databases, contacts, sinks.sms_titles(), sinks.email_subjects()
        )
        for name in live.services:
            assert live[name].running(), f"{name} died"

    fresh_ids = sum(n for key, n in replies.items() if key.startswith("fresh request id"))
    expected_rows = before.rows | {GROWS_ON_REPLAY: before.rows[GROWS_ON_REPLAY] + fresh_ids}
    new_rows = {
        table: after.rows.get(table, 0) - expected_rows.get(table, 0)
        for table in expected_rows.keys() | after.rows.keys()
        if after.rows.get(table, 0) != expected_rows.get(table, 0)
    }
    expected_records = {
        topic: count + republished[topic] for topic, count in before.records.items()
    }
    new_events = {
        topic: after.records[topic] - expected
        for topic, expected in expected_records.items()
        if after.records[topic] != expected
    }
    new_messages = (after.sms - before.sms) + (after.emails - before.emails)
    report(
        f"duplicates ({database_kind})",
        summary(contacts)
        | {"acknowledged alerts": len(acks), "agendas published": agendas,
           "tables": len(before.rows),
           "rows before": sum(before.rows.values()),
           "records republished": dict(sorted(republished.items())),
           "http replays by outcome": dict(sorted(replies.items())),
           f"{GROWS_ON_REPLAY} grew": after.rows[GROWS_ON_REPLAY] - before.rows[GROWS_ON_REPLAY],
           "new rows": new_rows or 0, "new events": new_events or 0,
           "new SMS/emails": new_messages,
           "settled s": round(settle_seconds, 1), "caught up s": round(first_wait, 1),
           "caught up after replay s": round(second_wait, 1)},
        after_tally, contacts,
    )  # fmt: skip
    assert new_rows == {}
    assert new_events == {}
    assert new_messages == 0
    assert after_tally == before_tally
    assert after_tally.problems(contacts) == {}
