"""`python -m bench.floor`: what the least work a contact needs costs in CPU on this stack.

Issue #16 asks for 15 ms of CPU a contact across the four services. A contact causes a number of
Kafka records, offset commits, SQL statements and transactions in each service, which
`python -m bench --scenario steady --count-work` counts. Each of those has a least cost on this
stack, measured here in one process against the same local broker and database kind the bench
uses, with nothing of the services' own work around it:

- `consumed`: a FastStream subscriber (its logger off) takes a record and decodes it into the
  project's referral model; the handler does nothing and acknowledges nothing;
- `offset_commits`: one aiokafka `commit` of one partition's offset, awaited;
- `produce_calls`: one record sent with acks=all and idempotence, its acknowledgement awaited;
- `statements`, `transactions`: idempotency claims (an INSERT each) through the project's own
  engine (`shared.db.create_engine`: on SQLite, WAL and the one-hop driver). Transactions of one
  and of nine claims give the cost of a statement (the slope) and of the transaction around it
  (BEGIN, COMMIT and the disk flush: the rest).

Each unit is timed as CPU of this process over `--records` repetitions after a warm-up, records
arriving back to back. A record that comes alone costs a consumer far more (a fetch and a wake-up
of its own), so consumption is also timed at the steady scenario's pace, 10 records a second:
`consumed_paced` with each fetch answered at once (the referral and contact groups), and
`consumed_paced_unhurried` with the broker holding fetches (shared/kafka.py's unhurried groups).
In a service everything also runs with colder caches, so these are lower bounds. With `--report`
(a counting run's JSON report) it multiplies each service's counts per contact by the unit costs,
giving the floor of what the services' plumbing alone costs a contact, records queued and paced,
beside what the run's services spent. The difference is their own work (validation, signatures,
encryption, HTTP, providers, logs, metrics, traces) and their polls at rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from bench.setup import DATABASES, Infrastructure, Setup
from shared.db import claim_event, create_engine, processed_events_table
from shared.events import ReferralOpenedV1
from shared.kafka import (
    FETCH_LOOP_FALLBACK_MS,
    PRODUCER_SAFETY,
    UNHURRIED_FETCH_MAX_WAIT_MS,
    UNHURRIED_FETCH_MIN_BYTES,
    ensure_topics,
)
from shared.topics import DAY_MS, TopicSpec
from tests.support.events import referral

UNITS = ("consumed", "offset_commits", "produce_calls", "statements", "transactions")
WARM_UP = 200
CLAIMS_IN_A_LONG_TRANSACTION = 9
PACED_RATE = 10.0  # records a second, one at a time: the steady scenario's pace
PACED_SECONDS = 15.0  # at rest, then paced: each phase this long


async def _cpu_ms_each(count: int, step: Callable[[int], Awaitable[None]]) -> float:
    """CPU ms of this process per call of `step`, over `count` calls after a warm-up."""
    for number in range(WARM_UP):
        await step(-1 - number)
    started = time.process_time()
    for number in range(count):
        await step(number)
    return (time.process_time() - started) / count * 1000


async def kafka_units(bootstrap: str, count: int) -> dict[str, float]:
    """CPU ms of a record produced (acks=all, awaited), consumed (typed, FastStream) and of an
    offset commit, on a fresh topic."""
    spec = TopicSpec("floor.v1", 12, DAY_MS, "bench.floor's records")
    paced = [
        TopicSpec(f"floor-paced-{kind}.v1", 12, DAY_MS, f"bench.floor's paced records ({kind})")
        for kind in ("at-once", "unhurried")
    ]
    prefix = f"floor-{uuid.uuid4().hex[:8]}-"
    await ensure_topics(bootstrap, prefix, specs=(spec, *paced))
    topic = spec.full_name(prefix)
    now = datetime.now(UTC)
    payloads = [
        referral(f"MS-2026-{n:06d}", now).model_dump_json().encode() for n in range(count + WARM_UP)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SAFETY)
    await producer.start()
    try:

        async def produce(number: int) -> None:
            await producer.send_and_wait(topic, payloads[number], key=str(number % 12).encode())

        produce_ms = await _cpu_ms_each(count, produce)
    finally:
        await producer.stop()

    total = count + WARM_UP
    seen = 0
    marks: list[float] = []
    done = asyncio.Event()
    broker = KafkaBroker(bootstrap, logger=None)

    @broker.subscriber(
        topic, group_id=f"{prefix}consume", ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
    )  # fmt: skip
    async def handle(event: ReferralOpenedV1) -> None:
        nonlocal seen
        seen += 1
        if seen in (WARM_UP, total):
            marks.append(time.process_time())
        if seen == total:
            done.set()

    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), 300)
    finally:
        await broker.stop()
    consume_ms = (marks[1] - marks[0]) / count * 1000

    at_once, unhurried = [
        await _paced_consume_ms(
            bootstrap, topic_spec.full_name(prefix), prefix, payloads[:WARM_UP], hold
        )
        for topic_spec, hold in zip(paced, (False, True), strict=True)
    ]

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=f"{prefix}commit", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])

        async def commit(number: int) -> None:
            await consumer.commit({partition: number + WARM_UP + 1})

        commit_ms = await _cpu_ms_each(count, commit)
    finally:
        await consumer.stop()
    return {
        "produce_calls": produce_ms,
        "consumed": consume_ms,
        "offset_commits": commit_ms,
        "consumed_paced": at_once,
        "consumed_paced_unhurried": unhurried,
    }


async def _paced_consume_ms(
    bootstrap: str, topic: str, prefix: str, payloads: list[bytes], unhurried: bool
) -> float:
    """CPU ms of a record consumed at the steady scenario's pace: the subscriber's thread CPU
    while records come at PACED_RATE, less what the same subscriber uses at rest.

    At once (`unhurried` false): each fetch answers as soon as a record is there, as for the
    services' referral and contact groups, so each record arrives alone. Unhurried: the broker
    holds each fetch to gather records (shared/kafka.py's UNHURRIED_* settings), as for the
    groups that read the alerts, tasks and agenda topics.

    The records are sent from a thread with its own event loop, so the sending is not counted
    (`time.thread_time` of this thread only). The subscriber's fetch loop wakes at most once a
    second when idle, as every service's consumers do (`FETCH_LOOP_FALLBACK_MS`)."""
    arrived = 0
    warm, last = asyncio.Event(), asyncio.Event()
    broker = KafkaBroker(bootstrap, logger=None)

    @broker.subscriber(
        topic, group_id=f"{prefix}paced", ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest", consumer_timeout_ms=FETCH_LOOP_FALLBACK_MS,
        fetch_min_bytes=UNHURRIED_FETCH_MIN_BYTES if unhurried else 1,  # 1: aiokafka's default
        fetch_max_wait_ms=UNHURRIED_FETCH_MAX_WAIT_MS,
    )  # fmt: skip
    async def handle(event: ReferralOpenedV1) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == WARM_UP // 10:
            warm.set()
        if arrived == len(payloads) + WARM_UP // 10:
            last.set()

    def send(count: int, rate: float) -> None:
        async def sending() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER_SAFETY)
            await producer.start()
            try:
                started = time.monotonic()
                for number in range(count):
                    await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
                    payload = payloads[number % len(payloads)]
                    await producer.send_and_wait(topic, payload, key=str(number % 12).encode())
            finally:
                await producer.stop()

        asyncio.run(sending())

    await broker.start()
    try:
        await asyncio.to_thread(send, WARM_UP // 10, 50.0)  # connections and caches warm
        await asyncio.wait_for(warm.wait(), 60)
        await asyncio.sleep(3.0)  # the warm-up's last fetches settle
        started, cpu = time.monotonic(), time.thread_time()
        await asyncio.sleep(PACED_SECONDS)
        at_rest = (time.thread_time() - cpu) / (time.monotonic() - started)
        started, cpu = time.monotonic(), time.thread_time()
        sending = asyncio.create_task(asyncio.to_thread(send, len(payloads), PACED_RATE))
        try:
            await asyncio.wait_for(last.wait(), PACED_SECONDS * 10)
            used = time.thread_time() - cpu
            seconds = time.monotonic() - started
        finally:
            await sending  # the sending thread ends by itself: its records are all planned
    finally:
        await broker.stop()
    return (used - at_rest * seconds) / len(payloads) * 1000


async def sql_units(url: str, count: int) -> dict[str, float]:
    """CPU ms of a claim statement and of the transaction around it, through the services' engine."""
    engine = create_engine(url)
    metadata = sa.MetaData()
    claims = processed_events_table(metadata)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

        def claiming(per_transaction: int) -> Callable[[int], Awaitable[None]]:
            async def transaction(number: int) -> None:
                async with engine.begin() as connection:
                    for claim in range(per_transaction):
                        await claim_event(
                            connection, claims, f"{per_transaction}-{number}-{claim}", now
                        )

            return transaction

        one = await _cpu_ms_each(count, claiming(1))
        many = await _cpu_ms_each(count, claiming(CLAIMS_IN_A_LONG_TRANSACTION))
    finally:
        await engine.dispose()
    statement = (many - one) / (CLAIMS_IN_A_LONG_TRANSACTION - 1)
    return {"statements": statement, "transactions": one - statement}


def floor_of(
    work: dict[str, dict[str, float]], units: dict[str, float], paced: bool = False
) -> dict[str, dict[str, float]]:
    """Each service's counts per contact priced at the unit costs: CPU ms per contact by unit.
    `paced`: each consumed record priced as at the steady pace, by how its group fetches
    (`consumed_paced` at once, `consumed_paced_unhurried` held); otherwise back to back."""
    floors: dict[str, dict[str, float]] = {}
    for service, counts in work.items():
        priced = {unit: counts.get(unit, 0.0) * units[unit] for unit in UNITS}
        if paced:
            held = counts.get("consumed_unhurried", 0.0)
            priced["consumed"] = (counts.get("consumed", 0.0) - held) * units[
                "consumed_paced"
            ] + held * units["consumed_paced_unhurried"]
        floors[service] = {unit: round(value, 3) for unit, value in priced.items()}
    return floors


def table(report: dict[str, Any], units: dict[str, float]) -> str:
    """The floor beside what the report's steady run spent, per service and in all."""
    run = report["scenarios"]["steady"]["system"]
    work: dict[str, dict[str, float]] = run["work_per_contact"]
    spent: dict[str, float] = run["cpu_ms_per_contact"]
    floors, paced = floor_of(work, units), floor_of(work, units, paced=True)
    counted = ("consumed", "consumed_unhurried", *UNITS[1:])
    lines = [
        "counts per contact (from the report):",
        f"{'service':18}" + "".join(f"{unit:>19}" for unit in counted),
    ]
    for service, counts in work.items():
        lines.append(f"{service:18}" + "".join(f"{counts.get(u, 0.0):19.2f}" for u in counted))
    lines += [
        "",
        "floor, CPU ms per contact: 'back to back' prices every record as if records queued;",
        "'paced' prices each consumed record as at the run's pace (the unit columns are paced):",
        f"{'service':18}"
        + "".join(f"{unit:>15}" for unit in UNITS)
        + f"{'back to back':>14}{'paced':>9}{'spent':>9}",
    ]
    sums = [0.0, 0.0, 0.0]
    for service, priced in paced.items():
        row = [sum(floors[service].values()), sum(priced.values()), spent.get(service, 0.0)]
        sums = [total + value for total, value in zip(sums, row, strict=True)]
        lines.append(
            f"{service:18}"
            + "".join(f"{priced[u]:15.2f}" for u in UNITS)
            + f"{row[0]:14.2f}{row[1]:9.2f}{row[2]:9.2f}"
        )
    lines.append(
        f"{'all services':18}{'':{15 * len(UNITS)}}{sums[0]:14.2f}{sums[1]:9.2f}{sums[2]:9.2f}"
    )
    return "\n".join(lines)


async def measure(database: str, count: int) -> dict[str, Any]:
    async with Infrastructure(Setup(database=database)) as infra:
        kafka = await kafka_units(infra.bootstrap_servers, count)
        urls = await infra.databases(f"floor_{uuid.uuid4().hex[:8]}", ("floor",))
        with tempfile.TemporaryDirectory(prefix="bench-floor-") as folder:
            url = urls["floor"] if urls else f"sqlite+aiosqlite:///{folder}/floor.sqlite3"
            sql = await sql_units(url, count)
        return {"database": database, "records": count, "ms": kafka | sql}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.floor", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=2000, help="repetitions of each unit")
    parser.add_argument("--database", choices=DATABASES, default="sqlite")
    parser.add_argument(
        "--report", type=Path, help="a `python -m bench --scenario steady --count-work` report"
    )
    parser.add_argument("--out", type=Path, help="write the unit costs (and floor) as JSON here")
    args = parser.parse_args(argv)
    if args.records < 10:
        parser.error("--records must be at least 10")
    report = json.loads(args.report.read_text()) if args.report else None
    steady = (report or {}).get("scenarios", {}).get("steady", {}).get("system", {})
    if report is not None and "work_per_contact" not in steady:
        parser.error(f"{args.report} has no steady run counted with --count-work")
    result = asyncio.run(measure(args.database, args.records))
    print(
        f"\nCPU ms per unit ({args.database}, {args.records} of each, after {WARM_UP} warm-up; "
        f"the paced ones {WARM_UP} records each, at {PACED_RATE:g} a second):"
    )
    for unit in (*UNITS, "consumed_paced", "consumed_paced_unhurried"):
        print(f"  {unit:16}{result['ms'][unit]:8.3f}")
    if report is not None:
        print()
        print(table(report, result["ms"]))
        result["floor_ms_per_contact"] = floor_of(steady["work_per_contact"], result["ms"])
        result["floor_paced_ms_per_contact"] = floor_of(
            steady["work_per_contact"], result["ms"], paced=True
        )
        result["report"] = str(args.report)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
        print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
