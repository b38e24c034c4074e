"""List dead letters, and replay them from their source once the cause is fixed.

    python -m deploy.deadletters list [--consumer C] [--topic T] [--since ISO] [--json]
    python -m deploy.deadletters replay (--all | TOPIC:PARTITION:OFFSET ...) [--consumer C] [--dry-run]

It reads the services' own settings from the environment: SAFEGUARDING_ENV, KAFKA_BOOTSTRAP_SERVERS,
KAFKA_TOPIC_PREFIX, KAFKA_SECURITY / KAFKA_CA_FILE / KAFKA_USERNAME / KAFKA_PASSWORD (run it as the
`operator` principal, deploy/kafka_acls.py) and EVENT_PUBLIC_KEYS. It holds no signing key and opens
no database. It never prints a payload: a dead letter carries none, and the source record it reads
to replay stays in memory.

`list` reads the dead-letter topic and checks each letter's Ed25519 signature as the services do:
a letter that does not verify, or names another consumer than the service that signed it, is shown
as FORGED and is never replayed.

`replay`, for each chosen letter (the latest one for its consumer and source place): reads the
source record at its topic/partition/offset (gone after the topic's retention: reported, skipped),
checks that the SHA-256 of its value is the letter's `payload_sha256` (else refused), and writes the
record's exact key, value and headers to the same topic and partition again, with the letter and its
signature added as headers. Why a copy, and why it is safe (shared/replay.py):
- the copy's bytes are the original's, so the police HMAC (ingress) or the producer's Ed25519
  signature (internal topics) still verifies: nothing is re-signed, and this tool could not;
- the consumer that wrote the letter handles the copy as a redelivery of the original: intake's
  replay store sees the police request id from the place it was first read from (a redelivery,
  accepted; the same id anywhere else is a replay, refused) and judges freshness against the
  original's broker append time, recorded in the letter; a further failure is dead-lettered under
  the original place again, so it can be replayed again once fixed;
- a copy whose letter is not genuine, is for another topic or other bytes, is refused by the
  consumer (dead-lettered as ReplayRefused), so write access to a topic plus this tool's headers
  opens nothing; other consumers of the topic skip a copy vouched for another consumer;
- consumers are idempotent, so a record already processed changes nothing when replayed.

Which letters were replayed is read from the source topics themselves: a copy there carrying a
letter (verified as above) marks that letter replayed, so `list` shows it and a second
`replay --all` does not replay it again. No extra topic, no state in this tool.

Exit codes: 0 all good; 1 something refused, forged or missing; 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from faststream.kafka.security import parse_security
from pydantic import SecretStr, ValidationError

from deploy.deadletter_reading import TopicUnavailable, partitions_of, read_from, read_one
from shared.event_signing import EventVerifier, ForgedEvent
from shared.events import DeadLetterV1
from shared.kafka import security_from
from shared.replay import ReplayCheck, ReplayRefused, is_replay, replay_headers
from shared.replay import without_replay_headers as original_headers
from shared.settings import Environment, ServiceSettings
from shared.topics import DEAD_LETTERS

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
OK, REFUSED, USAGE = 0, 1, 2


class OperatorSettings(ServiceSettings):
    """The services' Kafka and key settings. The tool signs nothing and opens no database, so of
    the services' rules only those about Kafka and public keys apply."""

    def problems(self) -> list[str]:
        problems: list[str] = []
        if self.environment is not Environment.DEV:
            problems.extend(
                f"{name} holds a public dev secret: dev secrets work in dev only"
                for name in self._dev_secret_settings()
            )
            if not self.event_public_keys:
                problems.append("EVENT_PUBLIC_KEYS is required outside dev (to verify letters)")
        for producer, keys in self.event_public_keys.items():
            for key_id, encoded in keys.items():
                name = f"EVENT_PUBLIC_KEYS[{producer}][{key_id}]"
                if problem := self.key_problem(name, SecretStr(encoded), exact_bytes=32):
                    problems.append(problem)
        if self.kafka_security == "plaintext" and not self.environment.is_local:
            problems.append("KAFKA_SECURITY=plaintext is for dev and test only")
        if self.kafka_security == "sasl_scram_sha_512" and not (
            self.kafka_username and self.kafka_password
        ):
            problems.append(
                "KAFKA_SECURITY=sasl_scram_sha_512 needs KAFKA_USERNAME and KAFKA_PASSWORD"
            )
        return problems


@dataclass
class Letter:
    """One record of the dead-letter topic, verified or not, and its replay if one exists."""

    record: Record
    letter: DeadLetterV1 | None
    forged: str | None
    replayed_at: datetime | None = None

    @property
    def place(self) -> str:
        if self.letter is None:
            return "?"
        return (
            f"{self.letter.source_topic}:{self.letter.source_partition}:{self.letter.source_offset}"
        )


class Tool:
    def __init__(self, settings: OperatorSettings, out: TextIO) -> None:
        self.settings = settings
        self.out = out
        self.security = parse_security(security_from(settings))
        self.dead_letters = settings.topic(DEAD_LETTERS.name)
        self.verifier: EventVerifier = settings.event_verifier()
        # Checks a copy's letter as a consumer would; the consumer's name is not needed here.
        self.replays = ReplayCheck("", self.verifier, self.dead_letters)

    def consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,  # no group, nothing committed: reading changes nothing
            **self.security,
        )

    def verify(self, record: Record) -> Letter:
        try:
            signer = self.verifier.verify(record.topic, record.key, record.value or b"",
                                          record.headers or ())  # fmt: skip
            letter = DeadLetterV1.model_validate_json(record.value or b"")
        except ForgedEvent as forged:
            return Letter(record, None, str(forged))
        except ValidationError:
            return Letter(record, None, "not a DeadLetterV1")
        if letter.consumer != signer:
            return Letter(record, None, f"names another consumer than its signer {signer}")
        return Letter(record, letter, None)

    async def letters(self, since: datetime | None = None) -> list[Letter]:
        """Every dead letter (from `since`), each marked replayed when a vouched copy exists."""
        consumer = self.consumer()
        await consumer.start()
        try:
            since_ms = int(since.timestamp() * 1000) if since else None
            ids = await partitions_of(
                self.settings.kafka_bootstrap_servers, self.dead_letters, self.security
            )
            records = await read_from(consumer, self.dead_letters, dict.fromkeys(ids, 0), since_ms)
            found = [self.verify(record) for record in records]
            await self._mark_replayed(consumer, [f for f in found if f.letter is not None])
        finally:
            await consumer.stop()
        return found

    async def _mark_replayed(self, consumer: AIOKafkaConsumer, letters: list[Letter]) -> None:
        # A copy is always written after its original: read each source partition from the
        # lowest offset any letter names there.
        lowest: dict[TopicPartition, int] = {}
        for entry in letters:
            assert entry.letter is not None
            tp = TopicPartition(entry.letter.source_topic, entry.letter.source_partition)
            lowest[tp] = min(lowest.get(tp, entry.letter.source_offset), entry.letter.source_offset)
        by_id = {str(entry.letter.event_id): entry for entry in letters if entry.letter}
        for tp, offset in lowest.items():
            for record in await read_from(consumer, tp.topic, {tp.partition: offset}):
                if not is_replay(record):
                    continue
                try:
                    vouched = self.replays.vouching_letter(record)
                except ReplayRefused:
                    continue  # not a genuine replay: its consumer dead-letters it
                if replayed := by_id.get(str(vouched.letter.event_id)):
                    replayed.replayed_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)

    def matches(self, entry: Letter, consumer: str | None, topic: str | None) -> bool:
        if entry.letter is None:
            return consumer is None and topic is None
        if consumer is not None and entry.letter.consumer != consumer:
            return False
        return topic is None or entry.letter.source_topic in (topic, self.settings.topic(topic))

    async def list(self, consumer: str | None, topic: str | None, since: datetime | None,
                   as_json: bool) -> int:  # fmt: skip
        shown = [e for e in await self.letters(since) if self.matches(e, consumer, topic)]
        rows = [_row(entry) for entry in shown]
        if as_json:
            json.dump(rows, self.out, indent=2)
            self.out.write("\n")
        else:
            _table(rows, self.out)
        return REFUSED if any(entry.forged for entry in shown) else OK

    async def replay(self, places: Sequence[str], every: bool, consumer: str | None,
                     dry_run: bool) -> int:  # fmt: skip
        entries = await self.letters()
        status = OK
        if every:
            for forged in (e for e in entries if e.forged and consumer is None):
                self.say(forged, f"refused: forged dead letter ({forged.forged})")
                status = REFUSED
        latest: dict[tuple[str, str], Letter] = {}
        for entry in entries:  # one partition: in order, so the last letter for a place wins
            if entry.letter is not None and self.matches(entry, consumer, None):
                latest[(entry.letter.consumer, entry.place)] = entry
        chosen = list(latest.values())
        if not every:
            wanted = {_normalise(place, self.settings.topic_prefix) for place in places}
            chosen = [entry for entry in chosen if entry.place in wanted]
            for missing in sorted(wanted - {entry.place for entry in chosen}):
                self.out.write(f"{missing}: refused: no verified dead letter names this place\n")
                status = REFUSED
        producer = None if dry_run else self.producer()
        consumer_client = self.consumer()
        await consumer_client.start()
        if producer is not None:
            await producer.start()
        try:
            for entry in chosen:
                if not await self.replay_one(entry, consumer_client, producer):
                    status = REFUSED
        finally:
            await consumer_client.stop()
            if producer is not None:
                await producer.stop()
        return status

    def producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=True,
            **self.security,
        )

    async def replay_one(
        self, entry: Letter, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer | None
    ) -> bool:
        """False when the letter's source could not be replayed (gone, altered, a copy)."""
        letter = entry.letter
        assert letter is not None
        if entry.replayed_at is not None:
            self.say(entry, f"already replayed at {entry.replayed_at.isoformat()}; skipped")
            return True
        tp = TopicPartition(letter.source_topic, letter.source_partition)
        source = await read_one(consumer, tp, letter.source_offset)
        if source is None:
            self.say(entry, "missing: the source record is gone (retention) or was never there")
            return False
        if hashlib.sha256(source.value or b"").hexdigest() != letter.payload_sha256:
            self.say(entry, "refused: the source record's SHA-256 differs from the letter's")
            return False
        if is_replay(source):
            self.say(entry, "refused: the source is a copy whose replay mark was refused")
            return False
        if producer is None:
            self.say(entry, "would replay (dry run)")
            return True
        headers = original_headers(source.headers or ()) + replay_headers(
            entry.record.value or b"", entry.record.key or b"", entry.record.headers or ()
        )
        await producer.send_and_wait(
            tp.topic, source.value, key=source.key, partition=tp.partition, headers=headers
        )
        self.say(entry, "replayed")
        return True

    def say(self, entry: Letter, outcome: str) -> None:
        letter = entry.letter
        who = f"{letter.consumer} " if letter else ""
        where = entry.place if letter else f"letter at offset {entry.record.offset}"
        self.out.write(f"{who}{where}: {outcome}\n")


def _row(entry: Letter) -> dict[str, Any]:
    letter = entry.letter
    if letter is None:
        return {"letter_offset": entry.record.offset, "status": f"FORGED: {entry.forged}"}
    return {
        "letter_offset": entry.record.offset,
        "when": letter.occurred_at.isoformat(),
        "consumer": letter.consumer,
        "source": entry.place,
        "error_type": letter.error_type,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "status": f"replayed {entry.replayed_at.isoformat()}" if entry.replayed_at else "waiting",
    }


COLUMNS = ("when", "consumer", "source", "error_type", "attempts", "status", "reason")


def _table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        out.write("no dead letters\n")
        return
    cells = [[str(row.get(column, "")) for column in COLUMNS] for row in rows]
    widths = [max(len(column), *(len(r[i]) for r in cells)) for i, column in enumerate(COLUMNS)]
    for line in [list(COLUMNS), *cells]:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            + "\n"
        )


def _normalise(place: str, prefix: str) -> str:
    """A place as letters name it: the topic with the deployment's prefix (optional to type)."""
    topic, partition, offset = place.rsplit(":", 2)
    if not topic.startswith(prefix):
        topic = prefix + topic
    return f"{topic}:{int(partition)}:{int(offset)}"


def _place(text: str) -> str:
    """argparse type for TOPIC:PARTITION:OFFSET."""
    try:
        topic, partition, offset = text.rsplit(":", 2)
        if topic and int(partition) >= 0 and int(offset) >= 0:
            return text
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not TOPIC:PARTITION:OFFSET")


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


HELP = """List dead letters, and replay them from their source once the cause is fixed.

Each letter's signature is checked (a forged one is shown, never replayed); no payload is printed.
A replay writes the source record's exact bytes back to its topic and partition with the letter
attached; the consumer that wrote the letter handles it as the original, once (idempotent), and
refuses any copy no letter of its own vouches for. Fix the cause first; `--dry-run` checks only.

settings (the services' environment variables): SAFEGUARDING_ENV, KAFKA_BOOTSTRAP_SERVERS,
KAFKA_TOPIC_PREFIX, KAFKA_SECURITY, KAFKA_CA_FILE, KAFKA_USERNAME, KAFKA_PASSWORD (the
`operator` principal), EVENT_PUBLIC_KEYS"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m deploy.deadletters",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=HELP,
        epilog="exit codes: 0 all good, 1 something refused, forged or missing, 2 usage",
    )
    commands = top.add_subparsers(dest="command", required=True)
    listing = commands.add_parser(
        "list", help="show dead letters (verified), oldest first, and whether each was replayed"
    )
    listing.add_argument("--consumer", help="only this service's letters, e.g. intake")
    listing.add_argument("--topic", help="only letters about this source topic (prefix optional)")
    listing.add_argument("--since", type=_since, help="from this time on, e.g. 2026-12-02T09:00Z")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    replaying = commands.add_parser(
        "replay", help="have the consumer process dead-lettered records again, from their source"
    )
    which = replaying.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every letter not yet replayed")
    which.add_argument("places", nargs="*", default=[], type=_place, metavar="TOPIC:PARTITION:OFFSET",
                       help="the source place a letter names (as `list` shows it)")  # fmt: skip
    replaying.add_argument("--consumer", help="only this service's letters")
    replaying.add_argument("--dry-run", action="store_true", help="check, but write nothing")
    return top


async def run(
    argv: Sequence[str] | None = None,
    settings: OperatorSettings | None = None,
    out: TextIO = sys.stdout,
) -> int:
    try:
        options = parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if options.command == "replay" and not options.all and not options.places:
        out.write("replay: give --all or at least one TOPIC:PARTITION:OFFSET\n")
        return USAGE
    tool = Tool(settings or OperatorSettings(), out)
    try:
        if options.command == "list":
            return await tool.list(options.consumer, options.topic, options.since, options.json)
        return await tool.replay(options.places, options.all, options.consumer, options.dry_run)
    except TopicUnavailable as unavailable:
        out.write(f"{unavailable}\n")
        return REFUSED


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
