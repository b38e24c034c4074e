"""Poison records: while a steady stream of valid police contacts flows through the four services
(real `faststream run` processes), poison is produced into EVERY topic a service consumes — the
police contacts ingress and the internal referrals, alerts, tasks and agenda topics. Then:

(a) every poison record is dead-lettered by every consumer group that reads its topic, with a
    non-empty reason, identified by source topic + partition + offset, within seconds;
(b) every acknowledged valid contact still has all its effects (case, alert, notifications,
    tasks, agenda item), exactly once;
(c) no busy loop: once the poison is dead-lettered, every service process is nearly idle, and
    all four are still running;
(d) no dead letter (nor any service log line) carries the poison's personal data: a canary name
    is put in every poison payload; a dead letter may carry the payload's hash, never the payload.

Unknown event types on an internal topic are dead-lettered, not skipped: the topics' consumers
validate against a closed, discriminated union of the known versions (shared/events.py), and the
README's delivery semantics say "malformed or invalid records go to the dead-letter topic at
once". A newer producer must therefore not publish a new event type before its consumers know it;
this test pins that documented behaviour.

Which service reads which topic (each with its own consumer group) is in every service's
router.py; the test's CONSUMERS table must match them, and the dead letters prove it does.

Two gaps this scenario found are fixed and kept as named tests below: a record with a header
value that is not UTF-8 was silently skipped (now parsed: shared/kafka.lenient_headers), and an
event_type carrying personal data was quoted in the dead letter's reason and the log (now
withheld: shared/redaction.py).
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, TopicPartition
from sqlalchemy.ext.asyncio import create_async_engine

from services.casework.adapters.tables import tasks
from shared.events import (
    AgendaItemAddedV1,
    AlertAcknowledgedV1,
    TaskOpenedV1,
    Urgency,
)
from shared.topics import AGENDA, ALERTS, DEAD_LETTERS, POLICE_CONTACTS, REFERRALS, TASKS, TopicSpec
from tests.conftest import EXAMPLE_CONTACT
from tests.fault.conftest import Offsets, Sinks, caught_up, generator, report, settled
from tests.support.events import referral
from tests.support.ground_truth import summary, unacknowledged_owed
from tests.support.kafka import read_all
from tests.support.live import SERVICES, LiveSystem
from tests.support.signing import event_headers, owner_of, signature_headers
from tests.support.waiting import eventually

pytestmark = pytest.mark.fault

SEED = int(os.environ.get("FAULT_POISON_SEED", "20261201"))
CONTACTS, RATE = 200, 20.0  # valid contacts, and contacts a second
ROUNDS = 2  # every kind of poison, into every consumed topic, this many times
HUGE = 900_000  # bytes: under the broker's default message.max.bytes (1 MiB)
DEEP = 5_000  # nesting levels: past the json module's recursion limit
CANARY = "Zebediah Canary-Quinlan"
# Seconds after the stream ends: a bound that catches a stuck consumer, not a measure of speed
# (12 s seen on 2 cores shared with other runs). Promptness is asserted by behaviour instead:
# each poison record is dead-lettered at its first attempt (`attempts`), the one retried kind
# aside, and the time is printed.
DEAD_LETTER_WITHIN = 60.0
IDLE_CPU_PERCENT = 30.0
# The shipped publisher looks every minute. On a Monday morning the 200 cases sit on a meeting it
# may already publish, and drawing that agenda takes about 1.8 s of CPU: a pass inside the idle
# window would read as a busy loop. Nothing here is about agendas, so it looks once a day.
NO_AGENDA_PASS = {"meeting_scheduler": {"MEETINGS_PUBLISH_POLL_SECONDS": "86400"}}

# Topic → the services that consume it, each with its own consumer group (see every router.py).
CONSUMERS: dict[TopicSpec, tuple[str, ...]] = {
    POLICE_CONTACTS: ("intake",),
    REFERRALS: ("notifier", "casework", "meeting_scheduler"),
    ALERTS: ("casework", "meeting_scheduler"),
    TASKS: ("notifier", "meeting_scheduler"),
    AGENDA: ("notifier",),
}

Headers = list[tuple[str, bytes]]


@dataclass
class Poison:
    kind: str
    spec: TopicSpec
    value: bytes | None
    headers: Headers
    partition: int = -1
    offset: int = -1
    timestamp_ms: int = -1

    def position(self, prefix: str) -> tuple[str, int, int]:
        return (self.spec.full_name(prefix), self.partition, self.offset)


def valid_event(spec: TopicSpec, case: str = "MS-2026-PSN2AB") -> dict[str, Any]:
    """A well-formed event (or police contact) for the topic, the canary in a free-text field."""
    if spec is POLICE_CONTACTS:
        contact: dict[str, Any] = json.loads(EXAMPLE_CONTACT.read_bytes())
        contact["police_reference"] = f"POISON/{uuid.uuid4().hex[:12]}"
        contact["person"]["name"] = CANARY
        contact["recorded_at"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        return contact
    now = datetime.now(UTC)
    envelope: dict[str, Any] = {
        "occurred_at": now,
        "correlation_id": f"poison-{uuid.uuid4().hex}",
        "producer": owner_of(spec.name),  # signed by it: the poison is elsewhere
    }
    event: Any
    if spec is REFERRALS:
        event = referral(
            case, now, Urgency.ROUTINE, **envelope, recorded_at=now, operation=f"Op {CANARY}"
        )
    elif spec is ALERTS:
        event = AlertAcknowledgedV1(
            **envelope, alert_id=str(uuid.uuid4()), case_references=(case,), person_id=CANARY,
            via="code",
        )  # fmt: skip
    elif spec is TASKS:
        event = TaskOpenedV1(
            **envelope, case_reference=case, task_id=CANARY, kind="healthcare", due_at=now
        )
    else:
        event = AgendaItemAddedV1(
            **envelope, case_reference=case, meeting_series=CANARY, meeting_starts_at=now,
            late=False,
        )  # fmt: skip
    dumped: dict[str, Any] = event.model_dump(mode="json")
    return dumped


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


# Each kind of poison: (topic, rng) → (value, headers). None of these can be valid.
def malformed_json(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    text = _json(valid_event(spec))
    return b'{"name": "' + CANARY.encode() + b'", ' + text[1 : rng.randint(20, len(text) - 5)], []


def random_bytes(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    # A leading 0xff: no random tail can turn it into JSON.
    noise = rng.randbytes(rng.randint(1, 500))
    return b"\xff" + noise + CANARY.encode() + rng.randbytes(rng.randint(0, 500)), []


def empty(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    return b"", []


def null(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    return None, []  # a tombstone


def oversized(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    """~900 KB: over intake's record limit; an unknown field elsewhere (events forbid extras)."""
    document = valid_event(spec)
    document["notes"] = CANARY + " " + "x" * (HUGE - 2_000 - len(_json(document)))
    value = _json(document)
    assert HUGE - 3_000 < len(value) <= HUGE
    return value, []


WRONG_TYPES: dict[str, dict[str, Any]] = {
    POLICE_CONTACTS.name: {"immediate_risk": "yes", "support_needs": "healthcare"},
    REFERRALS.name: {"district": 7, "exploitation_types": "labour", "immediate_risk": "maybe",
                     "recorded_at": "last tuesday"},
    ALERTS.name: {"case_references": {"a": 1}, "via": True, "occurred_at": "yesterday"},
    TASKS.name: {"due_at": [2026, 12, 1], "task_id": {"id": 1}},
    AGENDA.name: {"late": "perhaps", "meeting_starts_at": -1.5e300},
}  # fmt: skip


def wrong_types(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    """The right event_type, fields of the wrong type."""
    return _json(valid_event(spec) | WRONG_TYPES[spec.name]), []


def unknown_event_type(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    """A valid-looking envelope with an event type no consumer knows (yet)."""
    document = valid_event(spec)
    if spec is POLICE_CONTACTS:
        return _json({"event_type": "police.contact.v2", "contact": document}), []
    base = str(document["event_type"]).rsplit(".", 1)[0]
    return _json(document | {"event_type": f"{base}.v{rng.randint(2, 99)}"}), []


def numbers_for_strings(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    document = valid_event(spec)
    if spec is POLICE_CONTACTS:
        document |= {"police_reference": 118734, "force_code": 42}
    else:
        document |= {"correlation_id": rng.randint(1, 10**6), "producer": 1.5}
        for key in ("case_reference", "alert_id", "task_id"):
            if key in document:
                document[key] = rng.randint(1, 10**12)
    return _json(document), []


def declared_json_malformed(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    text = _json(valid_event(spec))
    return text[: text.index(CANARY.encode()) + len(CANARY) + 3], [
        ("content-type", b"application/json")
    ]


def text_not_utf8(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    return CANARY.encode() + b" \xc3\x28 \xff\xfe", [("content-type", b"text/plain")]


def deep_nesting(spec: TopicSpec, rng: random.Random) -> tuple[bytes | None, Headers]:
    """Past the json module's recursion limit: a RecursionError, which the middleware does not
    know as permanent, so it is retried, then dead-lettered."""
    return b'{"a":' * DEEP + _json(CANARY) + b"}" * DEEP, []


KINDS: dict[str, Callable[[TopicSpec, random.Random], tuple[bytes | None, Headers]]] = {
    "malformed-json": malformed_json,
    "random-bytes": random_bytes,
    "empty": empty,
    "null": null,
    "oversized": oversized,
    "wrong-types": wrong_types,
    "unknown-event-type": unknown_event_type,
    "numbers-for-strings": numbers_for_strings,
    "declared-json-malformed": declared_json_malformed,
    "text-not-utf8": text_not_utf8,
    "deep-nesting": deep_nesting,
}


def plan_poison(rng: random.Random) -> list[Poison]:
    planned = [
        Poison(kind, spec, *make(spec, rng))
        for _ in range(ROUNDS)
        for spec in CONSUMERS
        for kind, make in KINDS.items()
    ]
    rng.shuffle(planned)
    return planned


async def produce_poison(
    bootstrap: str, prefix: str, planned: list[Poison], over_seconds: float, rng: random.Random
) -> None:
    """Spread the poison over the stream, each record acknowledged before the next (acks=all)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )  # fmt: skip
    await producer.start()
    try:
        start = time.monotonic()
        for number, poison in enumerate(planned):
            delay = start + over_seconds * number / len(planned) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            topic, key = poison.spec.full_name(prefix), f"poison-{rng.randrange(10**9)}".encode()
            # Signed as the topic's producer signs: the poison is in the contents, so that the
            # consumers' own parsing is what refuses it (unsigned records: test_forged_events).
            metadata = await producer.send_and_wait(
                topic,
                poison.value,
                key=key,  # a tombstone needs a key
                headers=[
                    *signature_headers(topic, key, poison.value or b""),
                    *(poison.headers or []),
                ],
            )
            poison.partition, poison.offset = metadata.partition, metadata.offset
            poison.timestamp_ms = metadata.timestamp
    finally:
        await producer.stop()


Letter = tuple[str, str, int, int]  # consumer, source topic, partition, offset


async def dead_letters(
    bootstrap: str, prefix: str, expected: set[Letter], within: float
) -> tuple[list[ConsumerRecord[bytes, bytes]], float]:
    """Read the dead-letter topic until every expected letter is there (or time runs out)."""
    started = time.monotonic()
    while True:
        records = await read_all(bootstrap, [DEAD_LETTERS.full_name(prefix)], quiet_for=0.5)
        have = {_letter(json.loads(record.value)) for record in records}
        if expected <= have or time.monotonic() - started > within:
            return records, time.monotonic() - started
        await asyncio.sleep(0.5)


def _letter(body: dict[str, Any]) -> Letter:
    return (
        body["consumer"],
        body["source_topic"],
        body["source_partition"],
        body["source_offset"],
    )


async def idle_cpu(live: LiveSystem, seconds: float = 3.0) -> dict[str, float]:
    """Each service's CPU use (process and children, % of one core) over the same `seconds`."""
    processes: dict[str, list[psutil.Process]] = {}
    for name in SERVICES:
        process = live[name].process
        assert process is not None
        parent = psutil.Process(process.pid)
        processes[name] = [parent, *parent.children(recursive=True)]
    for group in processes.values():
        for each in group:
            each.cpu_percent(None)
    await asyncio.sleep(seconds)
    return {
        name: round(sum(each.cpu_percent(None) for each in group), 1)
        for name, group in processes.items()
    }


async def test_poison_in_every_consumed_topic_is_dead_lettered_and_harms_nothing(
    tmp_path: Path, sinks: Sinks, service_databases: dict[str, str], database_kind: str,
    kafka_bootstrap: str, topic_prefix: str,
) -> None:  # fmt: skip
    rng = random.Random(SEED)
    planned = plan_poison(rng)
    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port, extra_env=NO_AGENDA_PASS,
    ) as live:  # fmt: skip
        gen = generator(live["intake"].url, kafka_bootstrap, topic_prefix, "poison")
        stream = asyncio.create_task(gen.run(CONTACTS, RATE))
        await produce_poison(kafka_bootstrap, topic_prefix, planned, CONTACTS / RATE * 0.9, rng)
        contacts = await stream
        stream_ended = time.monotonic()

        expected = {
            (consumer, *poison.position(topic_prefix))
            for poison in planned
            for consumer in CONSUMERS[poison.spec]
        }
        await dead_letters(kafka_bootstrap, topic_prefix, expected, within=DEAD_LETTER_WITHIN)
        all_lettered_after = time.monotonic() - stream_ended
        # A bound for a loaded machine (80 s seen on 2 busy cores), not a figure under test.
        found, settle_seconds = await settled(service_databases, contacts, sinks, within=240)
        # Every group has committed every record, so each was processed or dead-lettered: only
        # now can "no other dead letter" and "no log line quotes the poison" be checked.
        async with Offsets(kafka_bootstrap, topic_prefix) as offsets:
            _, caught_up_seconds = await caught_up(offsets, service_databases, sinks)
        letters = await read_all(
            kafka_bootstrap, [DEAD_LETTERS.full_name(topic_prefix)], quiet_for=0.5
        )
        cpu = await idle_cpu(live)
        running = {name: live[name].running() for name in SERVICES}
        logs = live.logs()

    bodies = [json.loads(record.value) for record in letters]
    by_letter = {
        _letter(body): (body, record) for body, record in zip(bodies, letters, strict=True)
    }
    by_position = {poison.position(topic_prefix): poison for poison in planned}
    missing = sorted(expected - set(by_letter))
    unexpected = sorted(set(by_letter) - expected)
    latency = [
        (record.timestamp - by_position[letter[1:]].timestamp_ms) / 1000
        for letter, (_, record) in by_letter.items()
        if letter in expected
    ]
    sent_per_topic = Counter(poison.spec.name for poison in planned)
    lettered_per_topic = Counter(body["source_topic"].removeprefix(topic_prefix) for body in bodies)
    duplicated = len(bodies) - len(by_letter)
    report(
        f"poison records ({database_kind})",
        summary(contacts)
        | {"poison sent per topic": dict(sent_per_topic),
           "dead letters per topic": dict(lettered_per_topic),
           "dead letters expected": len(expected), "dead letters found": len(bodies),
           "duplicated": duplicated,
           "max produce→dead letter s": round(max(latency, default=-1), 2),
           "all dead-lettered after stream end s": round(all_lettered_after, 1),
           "settled s": round(settle_seconds, 1), "caught up s": round(caught_up_seconds, 1),
           "idle cpu %": cpu},
        found, contacts,
    )  # fmt: skip
    print(
        "dead letters by kind and error type (attempts):",
        dict(
            sorted(
                Counter(
                    f"{by_position[_letter(body)[1:]].kind}: {body['error_type']} "
                    f"({body['attempts']})"
                    for body in bodies
                    if _letter(body) in expected
                ).items()
            )
        ),
    )

    # (a) every poison record dead-lettered by every consumer of its topic, with a reason, and
    # nothing else dead-lettered (no valid record was refused).
    assert not missing, (
        f"{len(missing)} poison record(s) not dead-lettered, e.g. "
        f"{[(by_position[m[1:]].kind, *m) for m in missing[:8]]}"
    )
    assert not unexpected, f"dead letters for records that were no poison: {unexpected[:8]}"
    assert all_lettered_after <= DEAD_LETTER_WITHIN
    for letter in expected:
        body, _ = by_letter[letter]
        poison = by_position[letter[1:]]
        assert body["reason"].strip(), f"a dead letter of a {poison.kind} record has no reason"
        assert body["error_type"]
        assert body["payload_sha256"] == hashlib.sha256(poison.value or b"").hexdigest()
        assert body["payload_bytes"] == len(poison.value or b"")
        # "At once": no retry, but for the RecursionError of deep nesting, which the middleware
        # does not know as permanent (retried up to max_attempts, shared/reliability.py).
        assert body["attempts"] == 1 or body["error_type"] == "RecursionError", (
            poison.kind, body["error_type"], body["attempts"]
        )  # fmt: skip
        assert body["attempts"] <= 3  # consumer_max_attempts' default (LiveSystem sets none)

    # (b) the poison did not stop intake answering (nothing else was faulted: every contact was
    # owed an acknowledgement), and every acknowledged valid contact has all its effects, once.
    assert not (unowed := unacknowledged_owed(contacts)), (
        f"{len(unowed)} valid contacts were not acknowledged: {unowed[:5]}"
    )
    assert found.problems(contacts) == {}
    assert found.missing_messages(contacts) == 0

    # (c) no busy loop, nobody died.
    assert running == dict.fromkeys(SERVICES, True), f"a service died: {running}"
    busy = {name: percent for name, percent in cpu.items() if percent >= IDLE_CPU_PERCENT}
    assert not busy, f"services busy after the poison was dead-lettered: {busy}"

    # (d) no personal data from the poison in a dead letter, nor in a service's log.
    for record in letters:
        assert CANARY.encode() not in record.value, "a dead letter carries the poison payload"
        assert b"Canary" not in record.value
    leaked = [line[:300] for line in logs.splitlines() if "Canary" in line]
    assert not leaked, f"service log lines quote the poison: {leaked[:3]}"


async def _tasks_of(database_url: str, cases: list[str]) -> Counter[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(tasks.c.case_reference).where(tasks.c.case_reference.in_(cases))
            )
            return Counter(row.case_reference for row in rows)
    finally:
        await engine.dispose()


async def test_a_valid_record_with_a_non_utf8_header_is_processed_or_dead_lettered(
    tmp_path: Path, sinks: Sinks, service_databases: dict[str, str], database_kind: str,
    kafka_bootstrap: str, topic_prefix: str,
) -> None:  # fmt: skip
    """The README's promise, "a record's offset is committed only once it was processed or
    dead-lettered", for a record whose only fault is a header value that is not UTF-8 (Kafka
    headers are bytes; any producer may send one). Casework alone reads the referrals: a valid
    referral with such a header, then an ordinary one on the same partition. The second gets its
    tasks; the first must get its tasks too, or a dead letter. (Found by this suite: FastStream
    decoded every header as UTF-8 outside the middleware, and the record was skipped. The broker's
    parser, shared/kafka.lenient_headers, now makes header values decodable first.)"""
    referrals = REFERRALS.full_name(topic_prefix)
    cases = ["MS-2026-HDRBAD", "MS-2026-HDROK2"]
    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port, names=("casework",),
    ):  # fmt: skip
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            bodies = [_json(valid_event(REFERRALS, case)) for case in cases]
            sent = [
                await producer.send_and_wait(
                    referrals, body, key=b"one-partition",
                    headers=[("content-type", b"application/json"), *extra,
                             *event_headers(referrals, b"one-partition", body)],
                )
                for body, extra in zip(bodies, [[("x-origin", b"\xff\xfe")], []], strict=True)
            ]  # fmt: skip
        finally:
            await producer.stop()
        found = await eventually(
            lambda: _tasks_of(service_databases["casework"], cases),
            lambda counts: counts[cases[1]] > 0,
            within=30,
            what="tasks for the ordinary referral sent after the one with a bad header",
        )
        letters = await read_all(kafka_bootstrap, [DEAD_LETTERS.full_name(topic_prefix)])
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets("casework")
        finally:
            await admin.close()

    lettered = [
        body
        for body in (json.loads(record.value) for record in letters)
        if (body["source_topic"], body["source_offset"]) == (referrals, sent[0].offset)
    ]
    position = committed.get(TopicPartition(referrals, sent[0].partition))
    print(
        f"\nnon-UTF-8 header ({database_kind}): tasks {dict(found)}, dead letters {len(lettered)}, "
        f"bad record at offset {sent[0].offset}, casework committed up to "
        f"{position.offset if position else None}"
    )
    assert found[cases[0]] > 0 or lettered, (
        "a valid referral with a non-UTF-8 header was neither processed nor dead-lettered"
    )


async def test_an_unknown_event_type_is_not_quoted_in_the_dead_letter(
    tmp_path: Path, sinks: Sinks, service_databases: dict[str, str], database_kind: str,
    kafka_bootstrap: str, topic_prefix: str,
) -> None:  # fmt: skip
    """The README: dead letters carry the reason, "field paths and messages, never values". An
    internal event whose event_type is not one the consumer knows is dead-lettered (as the main
    test shows), and neither the reason nor the `record_dead_lettered` log line may quote the
    event_type as sent. (Found by this suite: pydantic's `union_tag_invalid` message embeds the tag,
    even a whole object; shared/redaction.py now replaces such messages.)"""
    referrals = REFERRALS.full_name(topic_prefix)
    document = valid_event(REFERRALS) | {"event_type": f"{CANARY} 07700 900123"}
    nested = valid_event(REFERRALS) | {"event_type": {"name": CANARY}}
    async with LiveSystem(
        kafka_bootstrap, topic_prefix, service_databases, tmp_path / "live",
        sinks.gateway, sinks.smtp.port, names=("casework",),
    ) as live:  # fmt: skip
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for each in (document, nested):
                await producer.send_and_wait(
                    referrals, _json(each), key=b"one-partition",
                    headers=event_headers(referrals, b"one-partition", _json(each)),
                )  # fmt: skip
        finally:
            await producer.stop()
        letters = await eventually(
            lambda: read_all(
                kafka_bootstrap, [DEAD_LETTERS.full_name(topic_prefix)], quiet_for=0.3
            ),
            lambda found: len(found) >= 2,
            within=30,
            what="two dead letters",
        )
        logs = live.logs()
    reasons = [json.loads(record.value)["reason"] for record in letters]
    print(f"\nunknown event_type ({database_kind}): dead-letter reasons {reasons}")
    assert all(reason.strip() for reason in reasons)
    assert not [r for r in letters if b"Canary" in r.value], "a dead letter quotes the event_type"
    assert "Canary" not in logs, "a log line quotes the event_type"
