"""Replaying a dead-lettered record: a copy is processed as a redelivery of the original, or not at all.

`python -m deploy.deadletters replay` writes the original record's exact bytes (key, value and
headers, so the police HMAC or the producer's Ed25519 signature still verifies) to its source
topic and partition again, adding the dead letter that vouches for it: the letter's JSON and its
Ed25519 signature, made by the consumer that gave up on the record (`REPLAY_HEADERS`).

A consumer that reads a record carrying these headers (`ReplayCheck.origin`) accepts it only when
- the letter verifies as one of the services' dead letters (the operator holds no signing key, so
  nobody with write access to a topic can make one up),
- it names this topic, and the record's value has the SHA-256 the letter recorded,
and then handles it *as the original record at its original place* (`Origin`): intake's replay store
sees the police request id come back from the place it was first read from (a redelivery, which it
accepts, not a replay, which it refuses), its freshness is judged against the original's broker
append time (so a stale record stays stale), and a further failure is dead-lettered under the
original place again. A copy vouched for by another consumer's letter is not for this consumer and
is skipped (it handled or dead-lettered the original itself). Anything else carrying the headers is
refused, which dead-letters it.

Why no once-only marker in the consumer: a vouched copy means exactly "the original, again", which
every consumer already takes safely (they are idempotent on event ids and natural keys, and intake
accepts a redelivery from the original place only); replaying a copy twice changes nothing. The
tool keeps its own books: a letter counts as replayed when a copy it vouches for is on the source
topic (`deploy/deadletters.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from shared.errors import PermanentError
from shared.event_signing import KEY_ID_HEADER, SIGNATURE_HEADER, EventVerifier, ForgedEvent
from shared.events import DeadLetterV1

LETTER_HEADER = "x-replay-letter"
LETTER_KEY_HEADER = "x-replay-letter-key"
LETTER_KEY_ID_HEADER = "x-replay-letter-key-id"
LETTER_SIGNATURE_HEADER = "x-replay-letter-signature"
REPLAY_HEADERS = (LETTER_HEADER, LETTER_KEY_HEADER, LETTER_KEY_ID_HEADER, LETTER_SIGNATURE_HEADER)


class ReplayRefused(PermanentError):
    """A record carries a replay mark that no genuine dead letter vouches for. The message names
    which check failed, never the content."""


class KafkaRecord(Protocol):
    """What is read of a consumed record (aiokafka's ConsumerRecord has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def timestamp_type(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Iterable[tuple[str, bytes]] | None: ...


@dataclass(frozen=True)
class Origin:
    """Where a record was first written, and when the broker (or its producer) stamped it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    timestamp_type: int

    @classmethod
    def of(cls, record: KafkaRecord) -> Origin:
        return cls(
            record.topic, record.partition, record.offset, record.timestamp, record.timestamp_type
        )


@dataclass(frozen=True)
class VouchedLetter:
    """A verified dead letter carried by a replayed copy."""

    letter: DeadLetterV1
    signer: str


def replay_headers(
    letter_value: bytes, letter_key: bytes, letter_headers: Iterable[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """The headers that make a copy of a record a replay: the dead letter and its signature."""
    found = {name.lower(): raw for name, raw in letter_headers}
    return [
        (LETTER_HEADER, letter_value),
        (LETTER_KEY_HEADER, letter_key),
        (LETTER_KEY_ID_HEADER, found.get(KEY_ID_HEADER, b"")),
        (LETTER_SIGNATURE_HEADER, found.get(SIGNATURE_HEADER, b"")),
    ]


def is_replay(record: KafkaRecord) -> bool:
    return any(name.lower() == LETTER_HEADER for name, _ in record.headers or ())


def without_replay_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(name, raw) for name, raw in headers if name.lower() not in REPLAY_HEADERS]


class ReplayCheck:
    """Decides what a consumed record is: an ordinary record, a vouched replay for this consumer,
    another consumer's replay, or a refused one."""

    def __init__(self, consumer: str, verifier: EventVerifier, dead_letter_topic: str) -> None:
        self._consumer = consumer
        self._verifier = verifier
        self._dead_letter_topic = dead_letter_topic

    def vouching_letter(self, record: KafkaRecord) -> VouchedLetter:
        """The verified dead letter that vouches for this copy, or ReplayRefused."""
        found: dict[str, bytes] = {}
        for name, raw in record.headers or ():
            found.setdefault(name.lower(), raw or b"")
        letter_value = found.get(LETTER_HEADER, b"")
        signature = [
            (KEY_ID_HEADER, found.get(LETTER_KEY_ID_HEADER, b"")),
            (SIGNATURE_HEADER, found.get(LETTER_SIGNATURE_HEADER, b"")),
        ]
        key = found.get(LETTER_KEY_HEADER, b"")
        try:
            signer = self._verifier.verify(self._dead_letter_topic, key, letter_value, signature)
            letter = DeadLetterV1.model_validate_json(letter_value)
        except ForgedEvent as forged:
            raise ReplayRefused(f"replay mark: the dead letter is not genuine ({forged})") from None
        except ValidationError:
            raise ReplayRefused("replay mark: the dead letter is not a DeadLetterV1") from None
        if letter.consumer != signer:
            raise ReplayRefused(
                "replay mark: the dead letter names another consumer than its signer"
            )
        if letter.source_topic != record.topic:
            raise ReplayRefused("replay mark: the dead letter is for another topic")
        if hashlib.sha256(record.value or b"").hexdigest() != letter.payload_sha256:
            raise ReplayRefused("replay mark: the record is not the one the dead letter names")
        if letter.source_timestamp_ms is None or letter.source_timestamp_type is None:
            raise ReplayRefused("replay mark: the dead letter predates replays (no source time)")
        return VouchedLetter(letter, signer)

    def origin(self, record: KafkaRecord) -> Origin | None:
        """The place to handle `record` as: its own, or for a vouched replay the original's.
        None: another consumer's replay, not for this one. ReplayRefused: an unvouched mark."""
        if not is_replay(record):
            return Origin.of(record)
        vouched = self.vouching_letter(record).letter
        if vouched.consumer != self._consumer:
            return None
        assert vouched.source_timestamp_ms is not None  # checked by vouching_letter
        assert vouched.source_timestamp_type is not None
        return Origin(
            vouched.source_topic,
            vouched.source_partition,
            vouched.source_offset,
            vouched.source_timestamp_ms,
            vouched.source_timestamp_type,
        )


# The origin of the record being handled, set by the dead-letter middleware for its handler.
_CURRENT: ContextVar[Origin | None] = ContextVar("replay_origin", default=None)


@contextmanager
def handling_as(origin: Origin) -> Iterator[None]:
    token = _CURRENT.set(origin)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def origin_of(record: KafkaRecord) -> Origin:
    """Where the record being handled comes from: the original's place for a vouched replay."""
    current = _CURRENT.get()
    if current is not None and current.topic == record.topic:
        return current
    return Origin.of(record)
