"""Fuzzing the Kafka ingress: every record on the police contacts topic is either turned into a
referral event or dead-lettered with a reason, exactly once, and the consumer survives all of it.

A few hundred records are produced (one producer, acks=all, idempotent) to the ingress topic of a
real broker: random bytes, empty and null values, ~900 KB documents, 10,000-level nesting, JSON of
the wrong shape, contacts with wrong types or missing fields, and every tenth one a valid contact.
The valid ones carry a correlation id of their own, so each referral event names its record; the
dead letters name theirs by partition and offset (and the payload's SHA-256). Which records are
valid is known by construction, and checked up front against an independent judge of the
contract (tests/support/contact_oracle.py), so a generator that meant to break a record but did
not is caught before the broker is involved.

SEED is fixed (INTAKE_FUZZ_SEED overrides it), so a failing run can be repeated.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support import system
from tests.support.contact_oracle import contact_problems
from tests.support.databases import DatabaseUrls
from tests.support.kafka import read_all
from tests.support.log_capture import capture_logs
from tests.support.signing import police_record_headers
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("INTAKE_FUZZ_SEED", "20261128"))
RECORDS = 300
VALID_EVERY = 10
HUGE = 900_000  # bytes; under the broker's default message.max.bytes (1 MiB)
INTAKE_MAX_RECORD = 64 * 1024  # IntakeSettings.max_body_bytes
DEEP = 10_000  # levels
CANARY_PERSON = "Fuzzy Canary Hortensia"

Record = tuple[str, bytes | None]  # (kind, value)


@dataclass(frozen=True)
class Sent:
    kind: str
    value: bytes | None
    partition: int
    offset: int
    correlation_id: str | None  # set on valid contacts only


class Records:
    """The records of the run, every random choice from one seed."""

    def __init__(self, example: bytes, seed: int) -> None:
        self.rng = random.Random(seed)
        self.example: dict[str, Any] = json.loads(example)
        self.serial = 0

    def canary(self) -> str:
        self.serial += 1
        return f"canary-{self.serial}"

    def contact(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(json.dumps(self.example))
        self.serial += 1
        doc["police_reference"] = f"FUZZ-ING/{SEED}/{self.serial}"
        doc["person"]["name"] = CANARY_PERSON
        return doc

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        kinds = ["null", "bool", "int", "float", "string", "list", "dict"]
        kind = rng.choice(kinds if depth < 3 else kinds[:5])
        if kind == "null":
            return None
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "int":
            return rng.choice([0, -1, 10**30, rng.randint(-(10**9), 10**9)])
        if kind == "float":
            return rng.uniform(-1e6, 1e6)
        if kind == "string":
            return self.canary()
        if kind == "list":
            return [self.value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {f"k{index}": self.value(depth + 1) for index in range(rng.randint(0, 4))}

    # One generator per kind of bad record; each returns the value to produce.

    def random_bytes(self) -> bytes | None:
        return self.rng.randbytes(self.rng.randint(1, 2000))

    def empty(self) -> bytes | None:
        return b""

    def null(self) -> bytes | None:
        return None  # a tombstone

    def huge(self) -> bytes | None:
        shape = self.rng.choice(["long-notes", "long-array", "many-unknown-fields"])
        size = self.rng.randint(HUGE - 100_000, HUGE)
        if shape == "long-notes":
            doc = self.contact()
            doc["notes"] = self.canary() + " " + "n" * size
            return json.dumps(doc).encode()[:HUGE]
        if shape == "long-array":
            return b"[" + b",".join([b"1234567"] * (size // 8)) + b"]"
        doc = self.contact()
        doc |= {f"unknown_{index}": index for index in range(size // 24)}
        return json.dumps(doc).encode()[:HUGE]

    def deep(self) -> bytes | None:
        shape = self.rng.choice(["array", "object", "inside-contact"])
        if shape == "array":
            return b"[" * DEEP + b"]" * DEEP
        nested = b'{"a":' * DEEP + b"1" + b"}" * DEEP
        if shape == "object":
            return nested
        doc = self.contact()
        doc["person"] = "@@deep@@"
        return json.dumps(doc).encode().replace(b'"@@deep@@"', nested)

    def wrong_shape(self) -> bytes | None:
        choice = self.rng.choice(["scalar", "list", "object", "contact-in-list", "envelope"])
        if choice == "scalar":
            return json.dumps(self.rng.choice([None, 0, True, "canary-text", 1.5])).encode()
        if choice == "list":
            return json.dumps([self.value() for _ in range(5)]).encode()
        if choice == "object":
            return json.dumps({f"k{index}": self.value() for index in range(5)}).encode()
        if choice == "contact-in-list":
            return json.dumps([self.contact()]).encode()
        return json.dumps({"contact": self.contact(), "version": 1}).encode()

    def wrong_types(self) -> bytes | None:
        doc = self.contact()
        change = self.rng.choice(WRONG)
        change(doc, self.canary())
        return json.dumps(doc).encode()

    def missing_field(self) -> bytes | None:
        doc = self.contact()
        path = self.rng.choice(REQUIRED)
        holder = doc
        for part in path[:-1]:
            holder = holder[part]
        del holder[path[-1]]
        return json.dumps(doc).encode()

    def not_utf8(self) -> bytes | None:
        doc = self.contact()
        doc["person"]["name"] = "@@bad@@"
        bad = self.rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\\ud800"])
        return json.dumps(doc).encode().replace(b'"@@bad@@"', b'"Canary ' + bad + b'"')

    def kinds(self) -> list[tuple[str, Callable[[], bytes | None]]]:
        return [
            ("random-bytes", self.random_bytes),
            ("empty", self.empty),
            ("null", self.null),
            ("huge", self.huge),
            ("deep", self.deep),
            ("wrong-shape", self.wrong_shape),
            ("wrong-types", self.wrong_types),
            ("missing-field", self.missing_field),
            ("not-utf8", self.not_utf8),
        ]

    def all(self, count: int) -> Iterator[Record]:
        kinds = self.kinds()
        bad = 0
        for index in range(count):
            if index % VALID_EVERY == 0:
                yield "valid", json.dumps(self.contact()).encode()
            else:
                kind, make = kinds[bad % len(kinds)]
                bad += 1
                yield kind, make()


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any], str], None]:
    def change(doc: dict[str, Any], _: str) -> None:
        for part in path[:-1]:
            doc = doc[part]
        doc[path[-1]] = value

    return change


def _set_canary(path: tuple[str, ...]) -> Callable[[dict[str, Any], str], None]:
    def change(doc: dict[str, Any], canary: str) -> None:
        _set(path, canary)(doc, canary)

    return change


# Changes that no valid contact survives (the contract is strict: no coercion, no extra fields).
WRONG: list[Callable[[dict[str, Any], str], None]] = [
    _set_canary(("immediate_risk",)),
    _set_canary(("person", "age_estimate")),
    _set_canary(("exploitation_types",)),
    _set_canary(("person",)),
    _set_canary(("location", "district")),
    _set_canary(("recorded_at",)),
    _set_canary(("person", "date_of_birth")),
    _set(("immediate_risk",), "true"),
    _set(("person", "interpreter_required"), 1),
    _set(("person", "age_estimate"), "25"),
    _set(("person", "age_estimate"), 121),
    _set(("recorded_at",), 1764283260),
    _set(("recorded_at",), "2026-02-30T00:00:00+00:00"),
    _set(("recorded_at",), "2026-11-27T22:41:00"),  # no time zone
    _set(("recorded_at",), "2999-01-01T00:00:00+00:00"),  # in the future
    _set(("force_code",), 10**30),
    _set(("police_reference",), ["NFK", 1]),
    _set(("officer",), None),
    _set(("nrm_consent",), "DECLINED"),
    _set(("exploitation_types",), ["labour", "labour"]),
    _set(("support_needs",), {"k": "healthcare"}),
    _set(("unexpected_field",), "canary-extra"),
    _set(("person", "unexpected_field"), "canary-extra"),
]
REQUIRED: list[tuple[str, ...]] = [
    ("police_reference",), ("force_code",), ("recorded_at",), ("officer",), ("location",),
    ("person",), ("exploitation_types",), ("immediate_risk",), ("nrm_consent",),
    ("support_needs",), ("officer", "collar_number"), ("officer", "name"),
    ("location", "district"), ("person", "interpreter_required"), ("person", "safe_to_contact"),
    ("person", "safe_to_contact", "email"),
]  # fmt: skip


Found = tuple[list[ConsumerRecord[bytes, bytes]], list[ConsumerRecord[bytes, bytes]]]


async def test_every_fuzzed_ingress_record_is_referred_or_dead_lettered_once(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    ingress = POLICE_CONTACTS.full_name(topic_prefix)
    dead_letters = DEAD_LETTERS.full_name(topic_prefix)
    referrals = REFERRALS.full_name(topic_prefix)
    records = Records(example_contact, SEED)
    planned = list(records.all(RECORDS))
    valid_count = sum(kind == "valid" for kind, _ in planned)
    now = datetime.now(UTC)
    disagreements = [
        (kind, (value or b"")[:120])
        for kind, value in planned
        if (kind == "valid")
        != (
            value is not None
            and len(value) <= INTAKE_MAX_RECORD
            and not contact_problems(value, now)
        )
    ]
    assert not disagreements, f"construction and oracle disagree: {disagreements[:5]}"

    async with AsyncExitStack() as stack:
        database = await database_urls.new("intake")
        intake = system.intake_app(kafka_bootstrap, topic_prefix, database)
        logs = capture_logs(stack)  # after the app configured logging
        await system.start(stack, {"intake": intake})
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=2 * 1024 * 1024,
        )
        await producer.start()
        stack.push_async_callback(producer.stop)

        started = time.monotonic()
        sent = await produce_all(producer, ingress, planned)
        by_position = {(record.partition, record.offset): record for record in sent}
        assert len(by_position) == RECORDS

        async def probe() -> Found:
            found = await read_all(kafka_bootstrap, [dead_letters, referrals], quiet_for=0.5)
            return (
                [record for record in found if record.topic == dead_letters],
                [record for record in found if record.topic == referrals],
            )

        def accounted(found: Found) -> bool:
            return len(found[0]) + len(found[1]) >= RECORDS

        await eventually(probe, accounted, within=45, what=f"all {RECORDS} records accounted for")
        seconds = time.monotonic() - started

        # The consumer is still alive: one more valid contact is referred. By then, anything
        # still on its way (a duplicate dead letter or event) has arrived too.
        alive = f"fuzz-alive-{uuid.uuid4().hex}"
        last = json.dumps(records.contact()).encode()
        await producer.send_and_wait(
            ingress,
            last,
            headers=[*police_record_headers(last), ("correlation_id", alive.encode())],
        )
        letters, events = await eventually(
            probe,
            lambda found: any(json.loads(e.value)["correlation_id"] == alive for e in found[1]),
            within=20,
            what="a referral event for a valid contact sent after the fuzzed ones",
        )
        events = [e for e in events if json.loads(e.value)["correlation_id"] != alive]

    letter_bodies = [json.loads(record.value) for record in letters]
    event_bodies = [json.loads(record.value) for record in events]
    print(
        f"\ningress fuzz: seed {SEED}, sent {RECORDS} ({valid_count} valid) "
        f"in {sum(len(r.value or b'') for r in sent) / 1e6:.1f} MB; "
        f"dead-lettered {len(letters)}, referrals {len(events)}, "
        f"all accounted for after {seconds:.1f} s"
    )
    print("sent by kind:", dict(sorted(Counter(record.kind for record in sent).items())))
    kinds = Counter(
        f"{by_position[(body['source_partition'], body['source_offset'])].kind}: "
        f"{body['error_type']}"
        for body in letter_bodies
    )
    print("dead letters by kind and error type:", dict(sorted(kinds.items())))
    print(
        "dead letters by attempts:",
        dict(sorted(Counter(body["attempts"] for body in letter_bodies).items())),
    )

    valid = {key for key, record in by_position.items() if record.kind == "valid"}
    lettered = Counter((body["source_partition"], body["source_offset"]) for body in letter_bodies)
    twice = {position: count for position, count in lettered.items() if count > 1}
    assert not twice, f"records dead-lettered more than once: {twice}"
    assert set(lettered) == set(by_position) - valid, (
        f"not dead-lettered: {sorted(set(by_position) - valid - set(lettered))}; "
        f"dead-lettered but valid or never sent: {sorted(set(lettered) - (set(by_position) - valid))}"
    )
    assert len(letters) == RECORDS - valid_count
    for body in letter_bodies:
        record = by_position[(body["source_partition"], body["source_offset"])]
        assert body["source_topic"] == ingress
        assert body["consumer"] == "intake"
        assert body["reason"].strip(), f"a dead letter of a {record.kind} record has no reason"
        assert body["payload_sha256"] == hashlib.sha256(record.value or b"").hexdigest()
        assert body["payload_bytes"] == len(record.value or b"")

    assert len(events) == valid_count, "exactly one referral event per valid contact"
    expected = {record.correlation_id for record in sent if record.kind == "valid"}
    assert {body["correlation_id"] for body in event_bodies} == expected
    opened = {"referral.opened.v1", "child_referral.opened.v1"}
    assert {body["event_type"] for body in event_bodies} <= opened

    leaks = [
        text[:200]
        for text in [*(r.value.decode() for r in letters), *(r.value.decode() for r in events)]
        if "canary" in text.lower()
    ]
    assert not leaks, f"dead letters or events echo submitted values: {leaks[:3]}"
    logged = [line[:300] for line in logs.lines if "canary" in line.lower()]
    assert not logged, f"log lines echo submitted values: {logged[:3]}"


async def produce_all(producer: AIOKafkaProducer, topic: str, planned: list[Record]) -> list[Sent]:
    """Send every record, then wait for all acknowledgements (in order per partition)."""
    pending: list[asyncio.Future[Any]] = []
    correlation_ids: list[str | None] = []
    for kind, value in planned:
        correlation_id = f"fuzz-valid-{uuid.uuid4().hex}" if kind == "valid" else None
        # The police system signs whatever it sends: the fuzz is of the contents.
        headers = police_record_headers(value or b"")
        if correlation_id:
            headers.append(("correlation_id", correlation_id.encode()))
        key = correlation_id.encode() if correlation_id else None
        if value is None:
            key = f"tombstone-{len(pending)}".encode()  # a null value needs a key
        pending.append(await producer.send(topic, value, key=key, headers=headers))
        correlation_ids.append(correlation_id)
    results = await asyncio.gather(*pending)
    return [
        Sent(kind, value, metadata.partition, metadata.offset, correlation_id)
        for (kind, value), metadata, correlation_id in zip(
            planned, results, correlation_ids, strict=True
        )
    ]


async def test_a_nul_character_is_refused_on_the_ingress_as_over_http(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    """Found by the consumer fuzz (tests/fault/test_consumer_fuzz.py), judged by the contract
    oracle. DOMAIN.md: the ingress record and the HTTP body are one contract. Over HTTP a NUL
    character anywhere in the JSON is a 422 (shared/http_guards.py: PostgreSQL text cannot hold
    it); on the ingress topic intake opened a case for the same contact."""
    doc = json.loads(example_contact)
    doc["police_reference"] = f"NUL/{uuid.uuid4().hex[:12]}"
    doc["officer"]["name"] = "PC Canary\u0000Nul"
    body = json.dumps(doc).encode()
    assert contact_problems(body, datetime.now(UTC)) == [".officer.name: NUL character"]
    correlation_id = f"nul-{uuid.uuid4().hex}"
    async with AsyncExitStack() as stack:
        database = await database_urls.new("intake")
        await system.start(
            stack, {"intake": system.intake_app(kafka_bootstrap, topic_prefix, database)}
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        stack.push_async_callback(producer.stop)
        await producer.send_and_wait(
            POLICE_CONTACTS.full_name(topic_prefix),
            body,
            headers=[*police_record_headers(body), ("correlation_id", correlation_id.encode())],
        )
        topics = [DEAD_LETTERS.full_name(topic_prefix), REFERRALS.full_name(topic_prefix)]

        async def outcome() -> tuple[int, int]:
            found = await read_all(kafka_bootstrap, topics, quiet_for=0.3)
            letters = sum(record.topic == topics[0] for record in found)
            events = sum(record.topic == topics[1] for record in found)
            return letters, events

        letters, events = await eventually(
            outcome, lambda found: any(found), within=30, what="a dead letter or a referral"
        )
    assert (letters, events) == (1, 0), "a NUL in the contact should be a dead letter, not a case"
