"""Where the system's effects are seen, and when.

- Alert: the SMS gateway's receipt time (monotonic, in this process) of the first SMS for the case.
  An individual page names the case in its title; a grouped raid follow-up does not, so its ack
  code (at the end of the SMS) is looked up in the notifier's database to find the cases it covers.
- Tasks and agenda item: the Kafka record timestamps of TasksOpenedV1 and AgendaItemAddedV1 on the
  services' own topics. The timestamp is set by the publishing service's producer when its outbox
  relay sends the event, after the database commit: the moment the rest of the system can learn of
  it. (The tables' created_at/added_at are taken before the commit, from the service's clock, and
  would leave out the relay's delay.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import create_async_engine

from bench.clock import ClockPair
from services.notifier.adapters.tables import alerts, burst_batches, notifications
from shared.topics import AGENDA, TASKS
from tests.support.ground_truth import CASE_REFERENCE
from tests.support.http_gateway import Received

# The SMS says "… Ack <code> <link>" (referral) or "… Ack <code> Cases by email …" (grouped); the
# code is three groups of four of domain.ACK_CODE_ALPHABET, as stored.
ACK_CODE = re.compile(r"\bAck ([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})\b")
# "1 more referral from …", "3 more referrals from …", a reminder's with "Reminder 2 of 3: " first
GROUPED_TITLE = re.compile(r"^(?:Reminder \d+ of \d+: )?\d+ more referrals? from ")


@dataclass(frozen=True)
class AlertSeen:
    at: float  # monotonic, when the gateway received the SMS
    kind: str  # "individual" | "grouped"


async def first_alerts(received: Iterable[Received], notifier_url: str) -> dict[str, AlertSeen]:
    """Case reference → the first referral SMS (individual or grouped) that covered it."""
    seen: dict[str, AlertSeen] = {}

    def keep(case: str, alert: AlertSeen) -> None:
        if case not in seen or alert.at < seen[case].at:
            seen[case] = alert

    received = list(received)  # read twice
    for item in received:
        individual = item.path.startswith("/sms/") and not GROUPED_TITLE.match(item.title)
        if individual and "referral" in item.title:  # not a task reminder that names a case
            for case in set(CASE_REFERENCE.findall(item.title)):
                keep(case, AlertSeen(item.at, "individual"))
    grouped = _first_grouped_sms(received)
    for code, follow_up in (await _grouped_alerts(notifier_url, list(grouped))).items():
        for case in follow_up.cases:
            keep(case, AlertSeen(grouped[code], "grouped"))
    return seen


async def grouped_after_close(
    received: Iterable[Received], notifier_url: str, clock: ClockPair
) -> dict[str, float]:
    """Ack code of each grouped follow-up → seconds from its batch closing (the batch's send_at,
    in the notifier's database) to the gateway receiving the follow-up's first SMS."""
    first = _first_grouped_sms(received)
    return {
        code: first[code] - clock.to_monotonic(follow_up.closed_at.timestamp())
        for code, follow_up in (await _grouped_alerts(notifier_url, list(first))).items()
    }


@dataclass(frozen=True)
class _FollowUp:
    cases: list[str]
    closed_at: datetime  # its batch's send_at


def _first_grouped_sms(received: Iterable[Received]) -> dict[str, float]:
    """Ack code → when the gateway received the first SMS of that grouped follow-up."""
    first: dict[str, float] = {}
    for item in received:
        if item.path.startswith("/sms/") and GROUPED_TITLE.match(item.title):
            match = ACK_CODE.search(item.message)
            if match is not None:
                first[match.group(1)] = min(item.at, first.get(match.group(1), item.at))
    return first


async def _grouped_alerts(notifier_url: str, codes: list[str]) -> dict[str, _FollowUp]:
    """Ack code → the grouped alert it belongs to: its cases and when its batch closed."""
    if not codes:
        return {}
    engine = create_async_engine(notifier_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.select(notifications.c.ack_code, alerts.c.fields, burst_batches.c.send_at)
                    .join(alerts, alerts.c.alert_id == notifications.c.alert_id)
                    # A grouped alert's subject is its batch (services/notifier/raising.py).
                    .join(burst_batches, burst_batches.c.batch_id == alerts.c.subject_key)
                    .where(notifications.c.ack_code.in_(codes), alerts.c.kind == "grouped")
                )
            ).all()
    finally:
        await engine.dispose()
    return {
        row.ack_code: _FollowUp(
            [c.strip() for c in json.loads(row.fields)["case_references"].split(",") if c],
            row.send_at,
        )
        for row in rows
    }


class EffectsWatcher:
    """Reads the tasks and agenda topics from the beginning for as long as it is open. No consumer
    group: it must not take partitions from the services, and it commits nothing."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.topics = {TASKS.full_name(prefix): TASKS, AGENDA.full_name(prefix): AGENDA}
        self.tasks: dict[str, list[float]] = defaultdict(list)  # case → wall-clock seconds
        self.agenda: dict[str, float] = {}  # case → wall-clock seconds of its first agenda item
        self._task: asyncio.Task[None] | None = None
        self._consumer: Any = None

    async def __aenter__(self) -> EffectsWatcher:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        await self._consumer.start()
        try:
            partitions = [
                TopicPartition(name, number)
                for name, spec in self.topics.items()
                for number in range(spec.partitions)
            ]
            self._consumer.assign(partitions)
            await self._consumer.seek_to_beginning(*partitions)
        except BaseException:
            await self._stop_consumer()
            raise
        self._task = asyncio.create_task(self._read(), name="effects-watcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stop_consumer()

    async def _stop_consumer(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._consumer.stop(), 15)

    def check(self) -> None:
        """Raise if the reader died (its data would silently stop growing)."""
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            raise RuntimeError(f"the effects watcher stopped: {error!r}")

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    self._take(record.value, record.timestamp / 1000.0)

    def _take(self, value: bytes, timestamp: float) -> None:
        try:
            event = json.loads(value)
        except ValueError:
            return
        kind, case = event.get("event_type"), event.get("case_reference")
        if not isinstance(case, str):
            return
        if kind == "tasks.opened.v1" and isinstance(event.get("tasks"), list):
            self.tasks[case].extend([timestamp] * len(event["tasks"]))
        elif kind == "task.opened.v1":  # the one-task form, before TasksOpenedV1
            self.tasks[case].append(timestamp)
        elif kind == "agenda.item_added.v1":
            self.agenda[case] = min(timestamp, self.agenda.get(case, timestamp))

    def tasks_opened(self, case: str, expected: int) -> float | None:
        """Wall-clock seconds when the case's `expected`-th task was published, if it was."""
        stamps = sorted(self.tasks.get(case, ()))
        return stamps[expected - 1] if expected >= 1 and len(stamps) >= expected else None
