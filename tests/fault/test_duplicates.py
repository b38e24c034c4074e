"""Duplicates: everything delivered twice changes nothing.

A stream of contacts is processed to the end (cases, alerts, notifications, tasks, agenda items) and
some alerts are acknowledged, by link and by code. Then every record of every topic the services
consume is published again, keys, headers and partitions kept (Kafka's at-least-once delivery, an
outbox relayed twice, an operator's replay), every police POST is sent again with its original
signed headers (a captured request: refused) and with a fresh request id (a police retry: answered
200, nothing new), and every acknowledgement is sent again. Once every consumer group has caught
up, no table may hold a row more, no SMS or email may have been sent, and no topic may hold an
event beyond those republished by the test, and one dead letter for each republished ingress
record: its police signature's request id was used already, so intake refuses it as a replay
(services/intake/router.py), as it answers the captured POST 403.

The one table that legitimately grows is intake's `request_ids`: each fresh request id is recorded
(that is what refuses its own replay), so it must grow by exactly the number of fresh-id replays.
`processed_events` does not grow: a redelivered event finds its row (shared/db.py claim_event).
The dead-letter topic is not republished: no service consumes it.

The notifier's `ack_attempt_windows` is compared by what it means, not by its rows: it keeps one
row per client, code and fixed 15-minute window (services/notifier/ack_limits.py), so an
acknowledgement sent again after the window turns opens a fresh row for the same key with nothing
counted. That is one new row for the client, one per code and one global: CI once crossed a
window boundary between the two rounds and saw 7. What must not change is which clients and codes
it has seen, and that no failure is counted: every code sent was valid."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from services.notifier.adapters.tables import ack_attempt_windows
from shared.db import create_engine
from shared.kafka import PRODUCER_SAFETY
from shared.topics import DEAD_LETTERS, POLICE_CONTACTS
from tests.fault.conftest import (
    SUBSCRIPTIONS,
    Offsets,
    Sinks,
    caught_up,
    early_agendas,
    generator,
    report,
    settled,
)
from tests.support import system
from tests.support.ground_truth import summary, tally, unacknowledged_owed
from tests.support.kafka import read_all
from tests.support.live import LiveSystem

pytestmark = pytest.mark.fault

CONTACTS, RATE = 60, 20.0
ACKS_EACH_WAY = 5  # alerts acknowledged by link, and as many by code
GROWS_ON_REPLAY = "intake.request_ids"
ACK_WINDOWS = "notifier.ack_attempt_windows"  # compared by ack_windows(), see the docstring
ACK_TOKEN = re.compile(r"/ack/([A-Za-z0-9_=-]+\.[0-9a-f]{32})")
ACK_CODE = re.compile(r"\bAck ([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b")


async def ack_windows(notifier_database: str) -> tuple[set[tuple[str, str]], int]:
    """The (scope, key) pairs the acknowledgement limiter holds, in any window, and the failures
    it counts in all of them together."""
    engine = create_engine(notifier_database)
    try:
        async with engine.connect() as connection:
            keys = await connection.execute(
                sa.select(ack_attempt_windows.c.scope, ack_attempt_windows.c.key).distinct()
            )
            used = await connection.execute(
                sa.select(sa.func.coalesce(sa.func.sum(ack_attempt_windows.c.used), 0))
            )
            return {(scope, key) for scope, key in keys}, int(used.scalar_one())
    finally:
        await engine.dispose()


def extra_env(folder: Path) -> dict[str, dict[str, str]]:
    """Agendas are published up to 14 days ahead (the shipped calendar: 48 hours), so that on any
    day of the week the agenda of these contacts is published (AgendaPublishedV1, and an email
    to the coordinator) and its events are among those replayed; and the publisher looks every
    second rather than every minute, so that every version due is published before the snapshot."""
    return {"meeting_scheduler": early_agendas(folder)}


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
        # Nothing is faulted here: every contact is owed an acknowledgement.
        assert not (refused := unacknowledged_owed(contacts)), refused[:5]
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
        windows_before = await ack_windows(service_databases["notifier"])
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
            # The acknowledger's retry gets the same plain answer (it names no case or person).
            if body is not None:
                assert answer.json() == {"status": "acknowledged"}
            else:
                assert "is acknowledged" in answer.text

        after, second_wait = await caught_up(offsets, service_databases, sinks)
        windows_after = await ack_windows(service_databases["notifier"])
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
        if table != ACK_WINDOWS and after.rows.get(table, 0) != expected_rows.get(table, 0)
    }
    replayed_ingress = republished[POLICE_CONTACTS.name]
    expected_records = {
        topic: count + republished[topic] for topic, count in before.records.items()
    }
    expected_records[DEAD_LETTERS.name] += replayed_ingress
    letters = [
        json.loads(record.value)
        for record in await read_all(kafka_bootstrap, [DEAD_LETTERS.full_name(topic_prefix)])
    ]
    refused_replays = sum(
        letter["source_topic"] == POLICE_CONTACTS.full_name(topic_prefix)
        and "request id already used" in letter["reason"]
        for letter in letters
    )
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
           "ingress records refused as replays": refused_replays,
           "new rows": new_rows or 0, "new events": new_events or 0,
           "ack limiter keys": len(windows_before[0]),
           "ack limiter windows turned": after.rows[ACK_WINDOWS] != before.rows[ACK_WINDOWS],
           "new SMS/emails": new_messages,
           "settled s": round(settle_seconds, 1), "caught up s": round(first_wait, 1),
           "caught up after replay s": round(second_wait, 1)},
        after_tally, contacts,
    )  # fmt: skip
    assert new_rows == {}
    # Five codes, one client, the global budget: each seen, none counted as a failure, before the
    # replay and after it.
    assert windows_before == windows_after
    assert len(windows_before[0]) == ACKS_EACH_WAY + 2, windows_before
    assert windows_after[1] == 0
    assert new_events == {}
    assert refused_replays == replayed_ingress == len(letters)
    assert new_messages == 0
    assert after_tally == before_tally
    assert after_tally.problems(contacts) == {}
