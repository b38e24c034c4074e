"""`python -m bench --count-work`: what a service process does, counted, not timed.

The bench puts this folder first on a service's PYTHONPATH, so Python imports this module as the
process starts (the `site` module's `sitecustomize` hook), before the service's own code. It wraps
the few library calls every unit of work goes through and writes the totals to
`$BENCH_WORK_COUNT_DIR/<pid>.json` ten times a second; the bench reads them when it reads the
processes' CPU time and divides the difference by the contacts sent, as it does the CPU.

- `consumed`: records aiokafka's consumers returned (`getmany`/`getone`, which FastStream calls);
  `consumed_unhurried` those of them that came to a consumer whose fetches the broker holds to
  gather records (`fetch_min_bytes` above 1: shared/kafka.py's unhurried groups);
- `produced`, `produce_calls`: records handed to aiokafka's producer, and the calls that carried
  them (`send` one record; `send_batch` a whole batch, as the outbox relays do);
- `offset_commits`: OffsetCommit requests (`AIOKafkaConsumer.commit`);
- `statements`, `transactions`: SQL statements SQLAlchemy sent, and transactions it committed.

A hand-made part, for measurement only: no library counts these across aiokafka and SQLAlchemy
from outside a process. It adds a few microseconds to each counted call, so a counting run's CPU
figures are not quoted; `bench.floor` multiplies its counts by unit costs measured on their own.
Outside a counting run (no `BENCH_WORK_COUNT_DIR`) it does nothing.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

COUNTS: dict[str, int] = dict.fromkeys(
    (
        "consumed", "consumed_unhurried", "produced", "produce_calls", "offset_commits",
        "statements", "transactions",
    ),
    0,
)  # fmt: skip
DUMP_SECONDS = 0.1  # at 10 contacts a second, a reading is at most one contact stale


def _dump(folder: Path) -> None:
    path = folder / f"{os.getpid()}.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(COUNTS))
    partial.replace(path)  # a reader never sees half a file


def _keep_dumping(folder: Path) -> None:
    while True:
        time.sleep(DUMP_SECONDS)
        _dump(folder)


def _consumed(consumer: Any, count: int) -> None:
    COUNTS["consumed"] += count
    if getattr(consumer, "_fetch_min_bytes", 1) > 1:  # the broker holds fetches to batch records
        COUNTS["consumed_unhurried"] += count


def _count_kafka() -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    getmany, getone, commit = (
        AIOKafkaConsumer.getmany,
        AIOKafkaConsumer.getone,
        AIOKafkaConsumer.commit,
    )
    send, send_batch = AIOKafkaProducer.send, AIOKafkaProducer.send_batch

    async def counted_getmany(self: Any, *args: Any, **kwargs: Any) -> Any:
        got = await getmany(self, *args, **kwargs)
        _consumed(self, sum(len(records) for records in got.values()))
        return got

    async def counted_getone(self: Any, *args: Any, **kwargs: Any) -> Any:
        got = await getone(self, *args, **kwargs)
        _consumed(self, 1)
        return got

    async def counted_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["offset_commits"] += 1
        return await commit(self, *args, **kwargs)

    async def counted_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["produced"] += 1
        COUNTS["produce_calls"] += 1
        return await send(self, *args, **kwargs)

    async def counted_send_batch(self: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["produced"] += batch.record_count()
        COUNTS["produce_calls"] += 1
        return await send_batch(self, batch, *args, **kwargs)

    AIOKafkaConsumer.getmany = counted_getmany
    AIOKafkaConsumer.getone = counted_getone
    AIOKafkaConsumer.commit = counted_commit
    AIOKafkaProducer.send = counted_send
    AIOKafkaProducer.send_batch = counted_send_batch


def _count_sql() -> None:
    import sqlalchemy as sa

    def statement(*_: Any) -> None:
        COUNTS["statements"] += 1

    def transaction(*_: Any) -> None:
        COUNTS["transactions"] += 1

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", statement)
    sa.event.listen(sa.engine.Engine, "commit", transaction)


def install(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _count_kafka()
    _count_sql()
    _dump(folder)
    threading.Thread(target=_keep_dumping, args=(folder,), name="work-count", daemon=True).start()


if target := os.environ.get("BENCH_WORK_COUNT_DIR"):
    try:
        install(Path(target))
    except Exception as error:  # noqa: BLE001 - say so, but never stop the service starting
        sys.stderr.write(f"bench work count hook not installed: {error!r}\n")
