"""`python -m deploy.deadletters`: a record dead-lettered for a cause since fixed is replayed from its
source and takes effect once; a letter that does not match its source, a forged letter and a replay
mark no dead letter vouches for are all refused (real Kafka, intake in-process, SQLite)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import sqlite3
import sys
from contextlib import AsyncExitStack
from typing import Any

import pytest
import sqlalchemy as sa

from deploy.deadletters import OperatorSettings, run
from shared.events import DeadLetterV1
from shared.replay import replay_headers
from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls, count_rows
from tests.support.kafka import read_all, wait_consumed, wait_for_records
from tests.support.signing import TEST_EVENT_PUBLIC_KEYS, event_headers, police_record_headers

pytestmark = pytest.mark.integration

CASES = sa.select(sa.func.count()).select_from(sa.table("cases"))
VAULT_FAULT_ON = (
    "CREATE TRIGGER replay_fault BEFORE INSERT ON vault_records "
    "BEGIN SELECT RAISE(ABORT, 'injected fault: vault unavailable'); END"
)
VAULT_FAULT_OFF = "DROP TRIGGER replay_fault"


def sqlite_run(url: str, statement: str) -> None:
    database = sa.engine.make_url(url).database
    assert database is not None
    connection = sqlite3.connect(database, timeout=30)
    try:
        connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def operator(kafka: str, prefix: str) -> OperatorSettings:
    return OperatorSettings(
        environment="test",
        kafka_bootstrap_servers=kafka,
        topic_prefix=prefix,
        event_public_keys=TEST_EVENT_PUBLIC_KEYS,
    )


async def tool(kafka: str, prefix: str, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await run(list(argv), operator(kafka, prefix), out)
    return code, out.getvalue()


async def listed(kafka: str, prefix: str) -> list[dict[str, Any]]:
    code, out = await tool(kafka, prefix, "list", "--json")
    rows: list[dict[str, Any]] = json.loads(out)
    assert code == (1 if any(row["status"].startswith("FORGED") for row in rows) else 0), out
    return rows


async def send(kafka: str, topic: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k", headers=headers)
    finally:
        await producer.stop()


def contact(example: bytes, reference: str) -> bytes:
    document = json.loads(example)
    document["police_reference"] = reference
    return json.dumps(document).encode()


@pytest.mark.parametrize("database_kind", ["sqlite"])
async def test_a_record_dead_lettered_while_the_vault_failed_is_replayed_once_when_fixed(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    kafka, prefix = kafka_bootstrap, topic_prefix
    ingress = POLICE_CONTACTS.full_name(prefix)
    referrals = REFERRALS.full_name(prefix)
    url = await database_urls.new("intake")
    async with AsyncExitStack() as stack:
        await system.start(stack, {"intake": system.intake_app(kafka, prefix, url)})
        sqlite_run(url, VAULT_FAULT_ON)
        value = contact(example_contact, "NFK/REPLAY/1")
        await send(kafka, ingress, value, police_record_headers(value))
        (letter_record,) = await wait_for_records(kafka, DEAD_LETTERS.full_name(prefix), 1, 30)
        letter = DeadLetterV1.model_validate_json(letter_record.value)
        # Retried (not a permanent error), then given up on: the vault's insert keeps failing.
        assert (letter.consumer, letter.attempts) == ("intake", 3), letter
        assert await count_rows(url, CASES) == 0

        (row,) = await listed(kafka, prefix)
        place = f"{ingress}:{letter.source_partition}:{letter.source_offset}"
        assert (row["consumer"], row["source"], row["status"]) == ("intake", place, "waiting")
        assert (row["error_type"], row["attempts"]) == (letter.error_type, 3)

        # Not fixed yet: a dry run checks the source and writes nothing.
        code, out = await tool(kafka, prefix, "replay", "--all", "--dry-run")
        assert (code, out) == (0, f"intake {place}: would replay (dry run)\n")

        sqlite_run(url, VAULT_FAULT_OFF)
        code, out = await tool(kafka, prefix, "replay", "--all")
        assert (code, out) == (0, f"intake {place}: replayed\n")
        await wait_for_records(kafka, referrals, 1, within=30)
        assert await count_rows(url, CASES) == 1

        (row,) = await listed(kafka, prefix)
        assert row["status"].startswith("replayed "), row
        code, out = await tool(kafka, prefix, "replay", "--all")
        assert (code, "already replayed" in out) == (0, True), out
        code, out = await tool(kafka, prefix, "replay", place.removeprefix(prefix))
        assert (code, "already replayed" in out) == (0, True), out

        # Someone with write access copies the replay verbatim: it is the original once more,
        # which intake has handled, so nothing changes.
        ingress_records = await read_all(kafka, [ingress], quiet_for=0.5)
        assert len(ingress_records) == 2, "the original and exactly one replayed copy"
        copy = ingress_records[1]
        await send(kafka, ingress, copy.value, list(copy.headers))
        await wait_consumed(kafka, "intake", [ingress], within=30)
        assert await count_rows(url, CASES) == 1
        assert len(await read_all(kafka, [referrals], quiet_for=0.5)) == 1
        assert len(await read_all(kafka, [DEAD_LETTERS.full_name(prefix)], quiet_for=0.5)) == 1

    # The module as an operator runs it, settings from the environment.
    environment = {
        **os.environ,
        "SAFEGUARDING_ENV": "test",
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "KAFKA_TOPIC_PREFIX": prefix,
        "EVENT_PUBLIC_KEYS": json.dumps(TEST_EVENT_PUBLIC_KEYS),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.deadletters", "list", env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert place in stdout.decode()
    assert "replayed" in stdout.decode()
    assert b"NFK/REPLAY/1" not in stdout + stderr, "no payload is printed"


@pytest.mark.parametrize("database_kind", ["sqlite"])
async def test_letters_that_do_not_match_and_unvouched_replay_marks_are_refused(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    kafka, prefix = kafka_bootstrap, topic_prefix
    ingress = POLICE_CONTACTS.full_name(prefix)
    dead_letters = DEAD_LETTERS.full_name(prefix)
    url = await database_urls.new("intake")
    async with AsyncExitStack() as stack:
        await system.start(stack, {"intake": system.intake_app(kafka, prefix, url)})
        genuine = contact(example_contact, "NFK/REPLAY/A")
        await send(kafka, ingress, genuine, police_record_headers(genuine))
        await wait_consumed(kafka, "intake", [ingress], within=30)
        assert await count_rows(url, CASES) == 1
        (original,) = await read_all(kafka, [ingress], quiet_for=0.5)

        # A letter signed with intake's key (as a compromised or buggy signer could) naming the
        # genuine record's place but other bytes; and a letter nobody signed.
        other = contact(example_contact, "NFK/REPLAY/B")
        tampered = DeadLetterV1(
            occurred_at=original_time(original.timestamp), correlation_id="", producer="intake",
            consumer="intake", source_topic=ingress, source_partition=original.partition,
            source_offset=original.offset, payload_sha256=hashlib.sha256(other).hexdigest(),
            payload_bytes=len(other), error_type="IntegrityError", reason="made up", attempts=3,
            source_timestamp_ms=original.timestamp, source_timestamp_type=original.timestamp_type,
        )  # fmt: skip
        tampered_value = tampered.model_dump_json().encode()
        key = ingress.encode()
        letter_headers = event_headers(dead_letters, key, tampered_value, as_service="intake")
        await send_keyed(kafka, dead_letters, key, tampered_value, letter_headers)
        unsigned = tampered.model_copy(update={"source_offset": 99}).model_dump_json().encode()
        await send_keyed(kafka, dead_letters, key, unsigned, [])

        rows = await listed(kafka, prefix)
        assert [row["status"] for row in rows][1].startswith("FORGED: unsigned"), rows
        place = f"{ingress}:{original.partition}:{original.offset}"
        code, out = await tool(kafka, prefix, "replay", place)
        assert (code, "SHA-256 differs" in out) == (1, True), out
        code, out = await tool(kafka, prefix, "replay", "--all")
        assert (code, "SHA-256 differs" in out, "forged dead letter" in out) == (1, True, True), out
        assert "replayed\n" not in out
        code, out = await tool(kafka, prefix, "replay", f"{ingress}:0:12345")
        assert (code, "no verified dead letter" in out) == (1, True), out
        assert (await tool(kafka, prefix, "replay"))[0] == 2
        assert (await tool(kafka, prefix, "replay", "nonsense"))[0] == 2

        # Replay marks on a fresh, correctly police-signed contact: the tampered letter (genuine
        # signature, other bytes) and an unsigned one. Intake refuses both: dead letters, no case.
        third = contact(example_contact, "NFK/REPLAY/C")
        for vouching in (letter_headers, []):
            marked = replay_headers(tampered_value, key, vouching)
            await send(kafka, ingress, third, police_record_headers(third) + marked)
        letters = await wait_for_records(kafka, dead_letters, 4, within=30)
        refused = [DeadLetterV1.model_validate_json(r.value) for r in letters[2:]]
        assert [letter.error_type for letter in refused] == ["ReplayRefused", "ReplayRefused"]
        assert "not the one the dead letter names" in refused[0].reason
        assert "not genuine" in refused[1].reason
        await wait_consumed(kafka, "intake", [ingress], within=30)
        assert await count_rows(url, CASES) == 1, "no unvouched replay opened a case"


def original_time(timestamp_ms: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


async def send_keyed(
    kafka: str, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()
