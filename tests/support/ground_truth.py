"""Ground truth for the fault suite: a generator that sends police contacts at a steady rate, by
HTTP and by the ingress topic, and remembers each one whose POST or produce was acknowledged; and
a tally that reads every service's database (and the SMS/email sinks) to count, for each of those
contacts, its case, alert, tasks and agenda item."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import create_async_engine

from services.casework.adapters.tables import tasks
from services.intake.adapters.tables import cases
from services.meeting_scheduler.adapters.tables import agenda_items
from services.notifier.adapters.tables import alerts, delivery_attempts, notifications
from shared.kafka import PRODUCER_SAFETY
from tests.support import system
from tests.support.signing import police_record_headers

NEEDS = ("safe_accommodation", "healthcare", "legal_advice", "interpreter", "financial_support")
CONSENTS = ("given", "declined", "not_asked")
CASE_REFERENCE = re.compile(r"MS-\d{4}-[A-Z2-9]{6}")


@dataclass
class Contact:
    """One generated contact. `acknowledged` is the ground truth: intake answered 200/202, or the
    broker acknowledged the record (acks=all)."""

    police_reference: str
    via: str  # "http" | "kafka"
    body: bytes
    tasks_expected: int
    planned_at: float
    acknowledged: bool = False
    answered_at: float | None = None
    status: str = ""
    attempts: int = 0  # POSTs made (behind several intake instances, a failed one is retried)
    immediate: bool = False  # the officer reported immediate risk: paged at once, never grouped


def contact_body(
    police_reference: str, rng: random.Random, operation: str | None = None
) -> dict[str, Any]:
    """An adult, not at immediate risk (a priority alert: SMS and email), with 1–3 needs."""
    return {
        "police_reference": police_reference,
        "force_code": "NFK",
        "recorded_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "officer": {"collar_number": "2215", "name": "PC Fault Tester"},
        "operation": operation,
        "location": {
            "district": "norwich",
            "place_type": "residential",
            "postcode_sector": "NR1 1",
        },
        "person": {
            "name": f"Generated Person {rng.randrange(10**6)}",
            "date_of_birth": "1990-05-17",
            "gender": "female",
            "nationality": "RO",
            "languages": ["ro"],
            "interpreter_required": True,
            "safe_to_contact": {"phone": False, "sms": False, "email": False},
        },
        "exploitation_types": ["labour"],
        "indicators": ["debt_bondage"],
        "immediate_risk": False,
        "nrm_consent": rng.choice(CONSENTS),
        "support_needs": rng.sample(NEEDS, rng.randint(1, 3)),
        "notes": None,
    }


def expected_tasks(body: dict[str, Any]) -> int:
    """First contact, plus the duty-to-notify check or the NRM explanation, plus one a need
    (services/casework/domain.py plan_tasks, for an adult)."""
    return 1 + (body["nrm_consent"] in ("declined", "not_asked")) + len(body["support_needs"])


# Behind several intake instances, what a load balancer or the police system does with a POST
# that met a stopped instance: sends the same contact again (newly signed) to the next instance.
RETRIED_STATUSES = frozenset({502, 503, 504})
RETRY_PAUSE_SECONDS = 0.2


class Generator:
    """Open loop: contact i is planned at start + i/rate and sent then, whatever happened to the
    ones before it, so a stalled system shows as latency, not as a slower sender.

    Given several intake URLs (instances of intake behind a load balancer), POSTs go to them in
    turn, and a POST that fails without an answer (connection refused or dropped) or with 502/503/
    504 is sent again, same contact, to the next instance: up to two rounds of all of them. Intake
    de-duplicates by police reference, so a retried contact that the first instance did record is
    answered 200 (a replay), not recorded twice. With one URL, a send is made once."""

    def __init__(
        self,
        intake_url: str | Sequence[str],
        kafka: str,
        ingress_topic: str,
        run_id: str,
        seed: int = 20261128,
        kafka_share: float = 0.5,
        send_timeout: float = 10.0,
        kafka_options: dict[str, Any] | None = None,
        immediate_every: int = 0,
    ) -> None:
        self.intake_urls = [intake_url] if isinstance(intake_url, str) else list(intake_url)
        self.kafka, self.topic = kafka, ingress_topic
        self.run_id, self.rng, self.kafka_share = run_id, random.Random(seed), kafka_share
        self.send_timeout = send_timeout
        # aiokafka client arguments for a secured broker, e.g. BrokerSecurity.client_options(...)
        self.kafka_options = kafka_options or {}
        self.contacts: list[Contact] = []
        # Every n-th contact (0: none) at immediate risk; set after the random draws, so the
        # rest of the stream is the same with or without them.
        self.immediate_every = immediate_every

    def make(self, number: int, operation: str | None = None) -> Contact:
        body = contact_body(f"GT/{self.run_id}/{number:06d}", self.rng, operation)
        via = "kafka" if self.rng.random() < self.kafka_share else "http"
        every = self.immediate_every
        body["immediate_risk"] = every > 0 and number % every == every - 1
        return Contact(
            body["police_reference"], via, json.dumps(body).encode(), expected_tasks(body), 0.0,
            immediate=body["immediate_risk"],
        )  # fmt: skip

    async def run(
        self,
        count: int,
        rate: float,
        on_sent: Callable[[int], None] | None = None,
        operation: str | None = None,
        stop: asyncio.Event | None = None,
    ) -> list[Contact]:
        """Send `count` contacts at `rate` a second (fewer if `stop` is set first: no contact is
        planned after it)."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka, **PRODUCER_SAFETY, **self.kafka_options
        )
        await producer.start()
        try:
            async with httpx.AsyncClient(timeout=self.send_timeout) as client:
                start = time.monotonic()
                pending: list[asyncio.Task[None]] = []
                for number in range(count):
                    if stop is not None and stop.is_set():
                        break
                    contact = self.make(len(self.contacts), operation)
                    contact.planned_at = start + number / rate
                    self.contacts.append(contact)
                    delay = contact.planned_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    pending.append(asyncio.create_task(self._send(contact, client, producer)))
                    if on_sent is not None:
                        on_sent(number + 1)
                await asyncio.gather(*pending)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 15)
        return self.contacts

    async def _send(
        self, contact: Contact, client: httpx.AsyncClient, producer: AIOKafkaProducer
    ) -> None:
        try:
            if contact.via == "http":
                await self._post(contact, client)
            else:
                await asyncio.wait_for(
                    producer.send_and_wait(
                        self.topic,
                        contact.body,
                        key=contact.police_reference.encode(),
                        headers=police_record_headers(contact.body),  # as the police system signs
                    ),
                    self.send_timeout,
                )
                contact.status = "acked"
                contact.acknowledged = True
        except Exception as error:  # an unacknowledged send is simply not counted
            contact.status = type(error).__name__
        contact.answered_at = time.monotonic()

    async def _post(self, contact: Contact, client: httpx.AsyncClient) -> None:
        urls = self.intake_urls
        first = int(contact.police_reference.rsplit("/", 1)[1]) % len(urls)
        tries = 1 if len(urls) == 1 else 2 * len(urls)
        for attempt in range(tries):
            url = urls[(first + attempt) % len(urls)]
            contact.attempts += 1
            last = attempt == tries - 1
            try:
                # Signed afresh each time: intake refuses a request id it has seen.
                response = await client.post(
                    f"{url}/v1/contacts", content=contact.body, headers=system.signed(contact.body)
                )
            except httpx.TransportError:
                if last:
                    raise
            else:
                contact.status = str(response.status_code)
                contact.acknowledged = response.status_code in (200, 202)
                if response.status_code not in RETRIED_STATUSES or last:
                    return
            if (attempt + 1) % len(urls) == 0:
                await asyncio.sleep(RETRY_PAUSE_SECONDS)


@dataclass
class Tally:
    """What the databases and sinks hold for the acknowledged contacts."""

    acknowledged: int
    cases: Counter[str] = field(default_factory=Counter)  # police reference → cases
    references: dict[str, str] = field(default_factory=dict)  # police reference → case reference
    alerts: Counter[str] = field(default_factory=Counter)  # case reference → alerts
    delivered: Counter[str] = field(default_factory=Counter)  # case reference → delivered notes
    tasks: Counter[str] = field(default_factory=Counter)  # case reference → tasks
    agenda: Counter[str] = field(default_factory=Counter)  # case reference → agenda items
    sms: Counter[str] = field(default_factory=Counter)  # case reference → SMS at the gateway
    emails: Counter[str] = field(default_factory=Counter)  # case reference → emails at the sink

    def problems(self, contacts: Iterable[Contact], channels: int = 2) -> dict[str, int]:
        """Per effect, how many acknowledged contacts lack it or have too much of it."""
        wanted = [c for c in contacts if c.acknowledged]
        found: Counter[str] = Counter()
        for contact in wanted:
            count = self.cases[contact.police_reference]
            if count != 1:
                found["case missing" if count == 0 else "case duplicated"] += 1
                continue
            case = self.references[contact.police_reference]
            for effect, have, want in (
                ("alert", self.alerts[case], 1),
                ("delivered notification", self.delivered[case], channels),
                ("task", self.tasks[case], contact.tasks_expected),
                ("agenda item", self.agenda[case], 1),
            ):
                if have < want:
                    found[f"{effect} missing"] += 1
                elif have > want:
                    found[f"{effect} duplicated"] += 1
        return dict(found)

    def message_duplicates(self) -> int:
        """Provider messages sent more than once for one case (SMS and email together)."""
        return sum(n - 1 for n in self.sms.values() if n > 1) + sum(
            n - 1 for n in self.emails.values() if n > 1
        )

    def missing_messages(self, contacts: Iterable[Contact]) -> int:
        missing = 0
        for contact in contacts:
            case = self.references.get(contact.police_reference)
            if contact.acknowledged and case is not None:
                missing += (self.sms[case] == 0) + (self.emails[case] == 0)
        return missing


async def _rows(url: str, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(query)).all())
    finally:
        await engine.dispose()


async def tally(
    database_urls: dict[str, str],
    contacts: list[Contact],
    sms_titles: Iterable[str] = (),
    email_subjects: Iterable[str] = (),
) -> Tally:
    result = Tally(sum(c.acknowledged for c in contacts))
    for row in await _rows(
        database_urls["intake"], sa.select(cases.c.police_reference, cases.c.case_reference)
    ):
        result.cases[row.police_reference] += 1
        result.references[row.police_reference] = row.case_reference
    for row in await _rows(
        database_urls["notifier"],
        sa.select(alerts.c.case_reference).where(alerts.c.kind == "referral"),
    ):
        result.alerts[row.case_reference] += 1
    for row in await _rows(
        database_urls["notifier"],
        sa.select(alerts.c.case_reference)
        .join(notifications, notifications.c.alert_id == alerts.c.alert_id)
        .where(notifications.c.step == 0, notifications.c.status == "delivered"),
    ):
        result.delivered[row.case_reference] += 1
    for row in await _rows(database_urls["casework"], sa.select(tasks.c.case_reference)):
        result.tasks[row.case_reference] += 1
    for row in await _rows(
        database_urls["meeting_scheduler"], sa.select(agenda_items.c.case_reference)
    ):
        result.agenda[row.case_reference] += 1
    for title in sms_titles:
        for case in set(CASE_REFERENCE.findall(title)):
            result.sms[case] += 1
    for subject in email_subjects:
        for case in set(CASE_REFERENCE.findall(subject)):
            result.emails[case] += 1
    return result


# The notifier's provider timeout: apprise's 4 s socket read (json:// SMS and voice), and the same
# 4 s per SMTP command (services/notifier/adapters/smtp_sender.py). A failed attempt that lasted
# this long waited out the timeout: the provider may have taken the message and answered late.
PROVIDER_TIMEOUT_MS = 4000


async def duplicate_evidence(database_urls: dict[str, str], found: Tally) -> list[str]:
    """For each case messaged more than once, its SMS and email counts and every attempt of each of
    its notifications (kind, step, person, channel, status; attempt, outcome, latency, time), so a
    failure shows how it came about: an attempt recorded as failed after a slow provider answer
    and then retried, or one notification delivered twice (two processes sent it)."""
    cases = sorted(
        {c for c, n in found.sms.items() if n > 1} | {c for c, n in found.emails.items() if n > 1}
    )
    if not cases:
        return []
    query = (
        sa.select(
            alerts.c.case_reference, alerts.c.kind, notifications.c.notification_id,
            notifications.c.step, notifications.c.person_id, notifications.c.channel,
            notifications.c.status, delivery_attempts.c.attempt, delivery_attempts.c.outcome,
            delivery_attempts.c.latency_ms, delivery_attempts.c.attempted_at,
        )
        .join(notifications, notifications.c.alert_id == alerts.c.alert_id)
        .outerjoin(
            delivery_attempts,
            delivery_attempts.c.notification_id == notifications.c.notification_id,
        )
        .where(alerts.c.case_reference.in_(cases))
        .order_by(delivery_attempts.c.attempted_at)
    )  # fmt: skip
    lines = [f"{case}: {found.sms[case]} SMS, {found.emails[case]} emails" for case in cases]
    for row in await _rows(database_urls["notifier"], query):
        lines.append(
            f"{row.case_reference} {row.kind} step {row.step} {row.person_id} {row.channel} "
            f"({row.status}, {row.notification_id[:8]}): attempt {row.attempt} {row.outcome} "
            f"in {row.latency_ms} ms at {row.attempted_at}"
        )
    return lines


async def late_answers(database_urls: dict[str, str]) -> Counter[tuple[str, str]]:
    """(case, channel) → attempts the notifier recorded as failed after waiting out the provider
    timeout and then tried again on the same notification: each may have reached the provider,
    and its retry then sent the message again."""
    later = delivery_attempts.alias("later")
    query = (
        sa.select(alerts.c.case_reference, notifications.c.channel, sa.func.count().label("n"))
        .join(notifications, notifications.c.alert_id == alerts.c.alert_id)
        .join(
            delivery_attempts,
            delivery_attempts.c.notification_id == notifications.c.notification_id,
        )
        .where(
            delivery_attempts.c.outcome == "failed",
            delivery_attempts.c.latency_ms >= PROVIDER_TIMEOUT_MS,
            sa.exists().where(
                later.c.notification_id == delivery_attempts.c.notification_id,
                later.c.attempt > delivery_attempts.c.attempt,
            ),
        )
        .group_by(alerts.c.case_reference, notifications.c.channel)
    )
    rows = await _rows(database_urls["notifier"], query)
    return Counter({(row.case_reference, row.channel): int(row.n) for row in rows})


async def delivered_twice(database_urls: dict[str, str], cases: Iterable[str]) -> list[str]:
    """The cases' notifications recorded as delivered by more than one attempt: sent by two
    processes (a lease that ran out while its send was under way), whatever else the ledger says."""
    query = (
        sa.select(delivery_attempts.c.notification_id)
        .join(notifications, notifications.c.notification_id == delivery_attempts.c.notification_id)
        .join(alerts, alerts.c.alert_id == notifications.c.alert_id)
        .where(delivery_attempts.c.outcome == "delivered", alerts.c.case_reference.in_(cases))
        .group_by(delivery_attempts.c.notification_id)
        .having(sa.func.count() > 1)
    )
    return [row.notification_id for row in await _rows(database_urls["notifier"], query)]


async def assert_no_message_duplicates(database_urls: dict[str, str], found: Tally) -> int:
    """No SMS or email sent twice for one case unless the notifier recorded, for that case and
    channel, an attempt that waited out the provider timeout and was retried (it cannot know if the
    provider took the message, so it sends again: at least once, README "What it cannot
    promise"). Returns how many duplicates that explains; any other fails, with how it came
    about."""
    if not (duplicates := found.message_duplicates()):
        return 0
    late = await late_answers(database_urls)
    unexplained = sum(
        max(0, sent - 1 - late[case, channel])
        for channel, counts in (("sms", found.sms), ("email", found.emails))
        for case, sent in counts.items()
    )
    repeated = {case for counts in (found.sms, found.emails) for case, n in counts.items() if n > 1}
    twice = await delivered_twice(database_urls, repeated)
    if unexplained or twice:
        evidence = await duplicate_evidence(database_urls, found)
        raise AssertionError(
            f"provider duplicates {duplicates}, {unexplained} not after a provider timeout, "
            f"notifications delivered twice {twice}:\n" + "\n".join(evidence)
        )
    evidence = await duplicate_evidence(database_urls, found)
    print(
        f"\nprovider duplicates {duplicates}, each after an attempt that outlasted the timeout:\n"
        + "\n".join(evidence)
    )
    return duplicates


@dataclass(frozen=True)
class Fault:
    """A stretch of `time.monotonic()` in which sends by one door (`via`) may fail: a broker down,
    intake killed and not yet ready again."""

    via: str  # "http" | "kafka"
    start: float
    end: float


def owed(contact: Contact, faults: Iterable[Fault] = ()) -> bool:
    """Whether the contact must have been acknowledged: its send, from the moment it was planned
    (it went then or later) to its answer (or the generator's timeout), overlapped no fault of
    its door. A healthy system acknowledges every such send."""
    answered = contact.answered_at if contact.answered_at is not None else float("inf")
    return not any(
        fault.via == contact.via and contact.planned_at <= fault.end and answered >= fault.start
        for fault in faults
    )


def unacknowledged_owed(contacts: Iterable[Contact], faults: Iterable[Fault] = ()) -> list[str]:
    """Contacts sent while their door was healthy that were not acknowledged, with their answer."""
    listed = list(faults)
    return [
        f"{c.police_reference} by {c.via}: {c.status}"
        for c in contacts
        if owed(c, listed) and not c.acknowledged
    ]


def summary(contacts: list[Contact], faults: Iterable[Fault] = ()) -> dict[str, int]:
    """`acknowledged minimum` is the number that had to be acknowledged (`owed`)."""
    listed = list(faults)
    return {
        "sent": len(contacts),
        "acknowledged": sum(c.acknowledged for c in contacts),
        "acknowledged minimum": sum(owed(c, listed) for c in contacts),
        "by http": sum(c.via == "http" and c.acknowledged for c in contacts),
        "by kafka": sum(c.via == "kafka" and c.acknowledged for c in contacts),
    }
