"""The dead-man's switch, end to end on the real broker: intake's heartbeat every second takes a
contact's path (ingress topic → intake → outbox → referrals topic → notifier → a real HTTP
gateway). The gateway then refuses everything: the operator, on a second gateway of its own, is
paged once within the configured time, and once more when the gateway accepts again. Throughout,
a heartbeat creates no case, task, agenda item, alert, notification or message to a person, while
a real contact in the same run is alerted (the positive control). And a record that carries the
heartbeat mark without intake's signature is dead-lettered as forged."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import create_async_engine

from services.intake.heartbeat import HEARTBEAT_HEADER
from services.intake.main import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.notifier.main import create_app as create_notifier
from services.notifier.settings import NotifierSettings
from shared.events import HeartbeatV1
from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.http_gateway import Gateway, RunningGateway
from tests.support.kafka import read_all, wait_for_records
from tests.support.signing import event_headers, police_record_headers
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually, wait_until

pytestmark = pytest.mark.fault

HEARTBEAT_SECONDS = 1.0
# Six intervals: every service shares this test's event loop, and a stall of a few seconds on a
# loaded machine must not read as silence before the gateway breaks (a review put 4.0 at risk).
STALE_SECONDS = 6.0
# The page is due STALE after the last heartbeat that went through (at most one heartbeat interval
# before the gateway broke); then the watchdog's check interval (STALE/8) and one HTTP send.
PAGE_BOUND_SECONDS = STALE_SECONDS + HEARTBEAT_SECONDS + 2.0
GAUGE = "safeguarding_heartbeat_last_success_timestamp_seconds"
QUIET, CLEARED = "Safeguarding pipeline quiet", "Safeguarding pipeline flowing again"


def titles(gateway: Gateway) -> list[str]:
    return [item.title for item in gateway.received]


async def gauge(notifier: httpx.AsyncClient) -> float:
    text = (await notifier.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith(GAUGE + " "))
    return float(line.split()[1])


async def case_references(databases: dict[str, str]) -> dict[str, set[str]]:
    """Every case reference in any table of any service: "service.table" → references."""
    found: dict[str, set[str]] = {}
    for service, url in databases.items():
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                metadata = sa.MetaData()
                await connection.run_sync(metadata.reflect)
                for name, table in metadata.tables.items():
                    for column in ("case_reference", "case_references"):
                        if column in table.c:
                            rows = await connection.execute(sa.select(table.c[column]))
                            found.setdefault(f"{service}.{name}", set()).update(
                                str(value) for (value,) in rows
                            )
        finally:
            await engine.dispose()
    return found


async def count(url: str, table: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            query = sa.select(sa.func.count()).select_from(sa.table(table))
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def test_the_operator_is_paged_once_when_deliveries_stop_and_told_once_when_they_resume(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))  # the rota's people: e-mail here
        async with (
            RunningGateway() as gateway,
            RunningGateway() as operator,
            AsyncExitStack() as stack,
        ):
            urls = {name: await database_urls.new(name) for name in system.BUILDERS}
            common = {name: system.common(kafka_bootstrap, topic_prefix, url)
                      for name, url in urls.items()}  # fmt: skip
            apps = {
                "intake": create_intake(IntakeSettings(
                    **common["intake"], **system.TEST_SETTINGS_INTAKE | {"heartbeat_seconds": HEARTBEAT_SECONDS},
                )),
                "notifier": create_notifier(NotifierSettings(
                    **common["notifier"], **system.TEST_SETTINGS_NOTIFIER, dispatch_poll_seconds=0.2,
                    heartbeat_urls=[gateway.url("heartbeat")], operator_urls=[operator.url("ops")],
                    heartbeat_stale_seconds=STALE_SECONDS, heartbeat_timeout_seconds=2.0,
                )),
                "casework": system.casework_app(kafka_bootstrap, topic_prefix, urls["casework"]),
                "meeting_scheduler": system.scheduler_app(kafka_bootstrap, topic_prefix, urls["meeting_scheduler"]),
            }  # fmt: skip
            running = await system.start(stack, apps)
            notifier = running.client("notifier")

            # 1. Heartbeats go end to end: the endpoint says ok and the gauge moves on.
            fresh = await eventually(
                lambda: notifier.get("/heartbeat"),
                lambda response: response.status_code == 200 and response.json()["status"] == "ok",
                within=30, what="a heartbeat end to end",
            )  # fmt: skip
            assert fresh.json()["stale_after_seconds"] == STALE_SECONDS
            first = await gauge(notifier)
            await eventually(lambda: gauge(notifier), lambda value: value > first, within=10,
                             what="the gauge moving")  # fmt: skip
            assert abs(first - time.time()) < 30

            # The positive control: a real contact in the same run is alerted (by e-mail).
            posted = await system.post_contact(running.client("intake"), example_contact)
            assert posted.status_code == 202, posted.text
            reference = posted.json()["case_reference"]
            await smtp.inbox.wait_for(1, within=20)

            # 2. The gateway refuses everything: one page, within the bound, and no second one.
            assert titles(operator) == [], "paged while heartbeats were still going through"
            gateway.outage(3600)
            broke = time.monotonic()
            await wait_until(lambda: QUIET in titles(operator), within=PAGE_BOUND_SECONDS + 5,
                             what="the operator paged")  # fmt: skip
            paged_after = operator.received[0].at - broke
            assert paged_after <= PAGE_BOUND_SECONDS, f"paged {paged_after:.1f} s after the break"
            # The last heartbeat through was emitted up to an interval and a relay before the
            # break, and the threshold counts from its emission.
            assert paged_after >= STALE_SECONDS - HEARTBEAT_SECONDS - 2.0, "paged before stale"
            stale = await notifier.get("/heartbeat")
            assert stale.status_code == 503
            assert stale.json()["status"] == "stale"
            assert gateway.refused >= 2, "heartbeats kept trying the gateway"
            await wait_until(lambda: time.monotonic() - broke > 2 * PAGE_BOUND_SECONDS,
                             within=3 * PAGE_BOUND_SECONDS)  # fmt: skip
            assert titles(operator) == [QUIET], "one page per silence"

            # 3. The gateway accepts again: one "cleared", then nothing more.
            gateway.down_until = 0.0
            await wait_until(lambda: CLEARED in titles(operator), within=15, what="cleared")
            recovered = await notifier.get("/heartbeat")
            assert recovered.status_code == 200
            assert recovered.json()["status"] == "ok"
            settle_until = time.monotonic() + 3 * HEARTBEAT_SECONDS
            await wait_until(lambda: time.monotonic() > settle_until, within=10)
            assert titles(operator) == [QUIET, CLEARED]
            assert {item.path for item in operator.received} == {"/ops"}

            # Heartbeats took the referral's path: through intake's outbox onto the referrals topic.
            referrals = await read_all(kafka_bootstrap, [REFERRALS.full_name(topic_prefix)])
            kinds = [json.loads(record.value)["event_type"] for record in referrals]
            assert kinds.count("heartbeat.v1") >= 10
            assert kinds.count("referral.opened.v1") == 1

    # Nothing but the control anywhere: no case, task, agenda item, alert or message from a
    # heartbeat; every message to a person is about the control; the gateway saw heartbeats only.
    references = await case_references(urls)
    assert references.get("intake.cases") == {reference}
    elsewhere = {value for values in references.values() for value in values} - {"None"}
    assert all(reference in value for value in elsewhere), elsewhere
    assert await count(urls["notifier"], "alerts") == 1
    assert await count(urls["intake"], "vault_records") == 1
    assert all(reference in str(message["subject"]) for message in smtp.inbox.messages)
    assert {item.path for item in gateway.received} == {"/heartbeat"}
    dead_letters = DEAD_LETTERS.full_name(topic_prefix)
    letters = await read_all(kafka_bootstrap, [dead_letters], quiet_for=0.5)
    assert letters == [], "a heartbeat was dead-lettered"


async def test_a_heartbeat_mark_without_intakes_signature_is_dead_lettered_as_forged(
    kafka_bootstrap: str, topic_prefix: str, database_urls: DatabaseUrls, example_contact: bytes
) -> None:
    ingress = POLICE_CONTACTS.full_name(topic_prefix)
    heartbeat = HeartbeatV1(
        occurred_at=datetime.now(UTC), correlation_id=str(uuid.uuid4()), producer="intake",
        sequence=7,
    ).model_dump_json().encode()  # fmt: skip
    key = b"heartbeat"
    mark = [(HEARTBEAT_HEADER, b"1")]
    records = [
        # A police-signed contact claiming to be a heartbeat: the police key cannot sign one.
        (example_contact, mark + police_record_headers(example_contact)),
        # A heartbeat signed by another service's key, and one not signed at all.
        (heartbeat, mark + event_headers(ingress, key, heartbeat, as_service="casework")),
        (heartbeat, mark),
        # The genuine one: intake's own signature. Accepted, queued for the referrals topic.
        (heartbeat, mark + event_headers(ingress, key, heartbeat, as_service="intake")),
    ]
    async with AsyncExitStack() as stack:
        running = await system.start_services(
            stack, kafka_bootstrap, topic_prefix, database_urls, names=("intake",)
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for value, headers in records:
                await producer.send_and_wait(ingress, value, key=key, headers=headers)
        finally:
            await producer.stop()
        letters = await wait_for_records(
            kafka_bootstrap, DEAD_LETTERS.full_name(topic_prefix), 3, within=20
        )
        relayed = await wait_for_records(
            kafka_bootstrap, REFERRALS.full_name(topic_prefix), 1, within=20
        )
    bodies = [json.loads(record.value) for record in letters]
    assert [body["source_offset"] for body in bodies] == [0, 1, 2]
    assert {body["error_type"] for body in bodies} == {"ForgedEvent"}
    assert [json.loads(record.value)["event_type"] for record in relayed] == ["heartbeat.v1"]
    assert await count(running.databases["intake"], "cases") == 0
    assert await count(running.databases["intake"], "vault_records") == 0
