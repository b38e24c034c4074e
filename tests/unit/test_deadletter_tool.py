"""The dead-letter tool's pure parts: the replay check a consumer runs, the operator's ACLs, its
settings and its command line."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from deploy.deadletters import OperatorSettings, run
from deploy.kafka_acls import OPERATOR_GRANTS, READ, WRITE, permissions
from shared.events import DeadLetterV1
from shared.replay import Origin, ReplayCheck, ReplayRefused, replay_headers
from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support.signing import TEST_EVENT_PUBLIC_KEYS, event_headers

VERIFIER = OperatorSettings(
    environment="test", event_public_keys=TEST_EVENT_PUBLIC_KEYS
).event_verifier()
KEY = POLICE_CONTACTS.name.encode()


@dataclass
class Record:
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    topic: str = POLICE_CONTACTS.name
    partition: int = 1
    offset: int = 40
    timestamp: int = 2_000
    timestamp_type: int = 1


def letter_for(value: bytes, consumer: str = "intake") -> bytes:
    return DeadLetterV1(
        occurred_at=datetime(2026, 12, 2, tzinfo=UTC), correlation_id="", producer=consumer,
        consumer=consumer, source_topic=POLICE_CONTACTS.name, source_partition=1,
        source_offset=7, payload_sha256=hashlib.sha256(value).hexdigest(),
        payload_bytes=len(value), error_type="RuntimeError", reason="r", attempts=3,
        source_timestamp_ms=1_000, source_timestamp_type=1,
    ).model_dump_json().encode()  # fmt: skip


def copy_of(value: bytes, letter: bytes, signer: str = "intake") -> Record:
    signature = event_headers(DEAD_LETTERS.name, KEY, letter, as_service=signer)
    return Record(value, [("x-request-id", b"abc"), *replay_headers(letter, KEY, signature)])


def test_an_ordinary_record_is_handled_at_its_own_place() -> None:
    record = Record(b"{}")
    assert ReplayCheck("intake", VERIFIER, DEAD_LETTERS.name).origin(record) == Origin.of(record)


def test_a_vouched_copy_is_handled_as_the_original_by_its_consumer_only() -> None:
    value = b'{"a": 1}'
    record = copy_of(value, letter_for(value))
    original = Origin(POLICE_CONTACTS.name, 1, 7, 1_000, 1)
    assert ReplayCheck("intake", VERIFIER, DEAD_LETTERS.name).origin(record) == original
    assert ReplayCheck("casework", VERIFIER, DEAD_LETTERS.name).origin(record) is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (copy_of(b"other bytes", letter_for(b'{"a": 1}')), "not the one the dead letter names"),
        (copy_of(b"x", letter_for(b"x", consumer="intake"), signer="notifier"), "not genuine"),
        (Record(b"x", replay_headers(letter_for(b"x"), KEY, [])), "not genuine"),
        (Record(b"x", [("x-replay-letter", b"{}")]), "not genuine"),
        (replace(copy_of(b"x", letter_for(b"x")), topic=REFERRALS.name), "another topic"),
    ],
)  # fmt: skip
def test_an_unvouched_copy_is_refused(record: Record, reason: str) -> None:
    with pytest.raises(ReplayRefused, match=reason):
        ReplayCheck("intake", VERIFIER, DEAD_LETTERS.name).origin(record)


def test_the_operator_reads_letters_and_sources_writes_sources_only_and_joins_no_group() -> None:
    (operator,) = permissions(OPERATOR_GRANTS).values()
    assert operator[("topic", DEAD_LETTERS.name)] == set(READ)
    assert operator[("topic", POLICE_CONTACTS.name)] == set(READ) | set(WRITE)
    assert not [resource for resource in operator if resource[0] == "group"]


def test_operator_settings_refuse_plaintext_and_missing_keys_when_deployed() -> None:
    with pytest.raises(ValidationError) as refused:
        OperatorSettings(environment="production")
    assert "EVENT_PUBLIC_KEYS is required" in str(refused.value)
    assert "KAFKA_SECURITY=plaintext" in str(refused.value)
    # Deployed with keys and TLS: no database, no signing key and no staff sign-in needed.
    OperatorSettings(
        environment="production", kafka_security="ssl", event_public_keys=TEST_EVENT_PUBLIC_KEYS
    )


@pytest.mark.parametrize(
    "argv",
    [[], ["replay"], ["replay", "--all", "t:0:1"], ["replay", "t:x:1"], ["list", "--since", "x"]],
)
async def test_usage_errors_exit_2(argv: list[str]) -> None:
    settings = OperatorSettings(environment="test", event_public_keys=TEST_EVENT_PUBLIC_KEYS)
    assert await run(argv, settings, io.StringIO()) == 2
