"""/metrics of the four services, in-process on the real broker: one contact and one poison
ingress record move each figure by exactly what happened, the sampled gauges settle (outbox
backlog and consumer lag back to 0), and no scrape carries anything from the contact."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from services.notifier.adapters.tables import notifications
from shared.metric_samplers import lag_sampler
from shared.metrics import ServiceMetrics
from shared.rota import load_rota
from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls, count_rows, wait_outbox_relayed
from tests.support.kafka import produce, produce_many, wait_consumed, wait_for_records
from tests.support.notifier import wait_sends_settled
from tests.support.smtp import SmtpSink
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SERVICES = ("intake", "notifier", "casework", "meeting_scheduler")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(running: system.Running, service: str) -> tuple[str, Samples]:
    async with running.client(service) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, found


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def series(found: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: number for (each, labels), number in found.items() if each == name}


def leaves(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for item in document.values():
            yield from leaves(item)
    elif isinstance(document, list):
        for item in document:
            yield from leaves(item)
    elif document is not None and not isinstance(document, bool):
        yield str(document)


async def test_metrics_count_what_happened_and_carry_nothing_personal(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METRICS_SAMPLE_SECONDS", "0.2")
    with SmtpSink() as smtp:
        monkeypatch.setenv("MAIL_SINK_PORT", str(smtp.port))
        async with AsyncExitStack() as stack:
            running = await system.start_services(
                stack, kafka_bootstrap, topic_prefix, database_urls
            )
            before = {service: (await scrape(running, service))[1] for service in SERVICES}

            async with running.client("intake") as intake:
                accepted = await system.post_contact(intake, example_contact)
            assert accepted.status_code == 202, accepted.text
            reference = accepted.json()["case_reference"]
            ingress = POLICE_CONTACTS.full_name(topic_prefix)
            await produce(kafka_bootstrap, ingress, b'{"police_reference": "NFK/1", ', key=b"k")

            await smtp.inbox.wait_for(1, within=20)
            letters = await wait_for_records(
                kafka_bootstrap, DEAD_LETTERS.full_name(topic_prefix), 1, within=20
            )
            assert await wait_outbox_relayed(running.databases["intake"]) == 1
            await wait_consumed(
                kafka_bootstrap,
                ("notifier", "casework", "meeting_scheduler"),
                [REFERRALS.full_name(topic_prefix)],
            )
            await wait_consumed(kafka_bootstrap, "intake", [ingress])
            await wait_sends_settled(running.databases["notifier"])
            for service in SERVICES:
                await wait_outbox_relayed(running.databases[service])

            # The sampler loop sets the gauges: wait until it has seen everything settle.
            def scraper(service: str) -> Callable[[], Awaitable[Samples]]:
                async def samples() -> Samples:
                    return (await scrape(running, service))[1]

                return samples

            def quiet(service: str) -> Callable[[Samples], bool]:
                return lambda found: settled(service, found)

            def settled(service: str, found: Samples) -> bool:
                # Every group's partitions reported (a partition appears once its consumer has
                # fetched it, so a scrape soon after start may show only some), none behind.
                lag = series(found, "safeguarding_consumer_lag")
                groups: dict[str, set[str]] = {}
                for labels in lag:
                    groups.setdefault(dict(labels)["group"], set()).add(dict(labels)["partition"])
                return (
                    value(found, "safeguarding_outbox_backlog_rows") == 0
                    and service in groups
                    and all(partitions == {"0", "1", "2"} for partitions in groups.values())
                    and not any(lag.values())
                )

            after: dict[str, Samples] = {}
            texts: dict[str, str] = {}
            for service in SERVICES:
                after[service] = await eventually(
                    scraper(service),
                    quiet(service),
                    within=15,
                    what=f"{service}: outbox empty and no lag",
                )
                texts[service] = (await scrape(running, service))[0]
            delivered_by_channel = {
                channel: await count_rows(
                    running.databases["notifier"],
                    sa.select(sa.func.count())
                    .select_from(notifications)
                    .where(
                        notifications.c.status == "delivered", notifications.c.channel == channel
                    ),
                )
                for channel in ("sms", "voice", "email", "chat")
            }
            async with running.client("casework") as casework:
                tasks = (await casework.get(f"/v1/cases/{reference}/tasks")).json()

    def moved(service: str, name: str, **labels: str) -> float:
        return value(after[service], name, **labels) - value(before[service], name, **labels)

    # Intake: one contact opened; the poison record refused (dead-lettered with its type name).
    letter = json.loads(letters[0].value)
    assert moved("intake", "safeguarding_contacts_received_total", outcome="opened") == 1
    assert moved("intake", "safeguarding_contacts_received_total", outcome="refused") == 1
    assert moved("intake", "safeguarding_contacts_received_total", outcome="replayed") == 0
    assert series(after["intake"], "safeguarding_dead_letters_total") == {
        (("reason", letter["error_type"]), ("topic", POLICE_CONTACTS.name)): 1
    }
    for service in ("notifier", "casework", "meeting_scheduler"):
        assert not any(series(after[service], "safeguarding_dead_letters_total").values())

    # Notifier: one alert; every delivered notification counted under its channel, none failed.
    assert sum(series(after["notifier"], "safeguarding_alerts_raised_total").values()) == 1
    assert moved("notifier", "safeguarding_alerts_raised_total", urgency="immediate") == 1
    assert moved("notifier", "safeguarding_escalation_steps_total", step="0") == 1
    assert sum(delivered_by_channel.values()) >= 1
    for channel, delivered in delivered_by_channel.items():
        name = "safeguarding_notifications_total"
        assert moved("notifier", name, channel=channel, outcome="delivered") == delivered, channel
        assert moved("notifier", name, channel=channel, outcome="failed") == 0, channel
        sends = value(
            after["notifier"], "safeguarding_notification_delivery_seconds_count", channel=channel
        )
        assert sends == delivered, channel
    assert value(after["notifier"], "safeguarding_oldest_undelivered_notification_age_seconds") == 0

    # Casework: one task per need; meetings: one agenda item on the case panel.
    assert len(tasks) >= 1
    opened = series(after["casework"], "safeguarding_tasks_opened_total")
    assert sum(opened.values()) == len(tasks)
    for task in tasks:
        assert value(after["casework"], "safeguarding_tasks_opened_total", kind=task["kind"]) >= 1
    assert sum(series(after["meeting_scheduler"], "safeguarding_agenda_items_total").values()) == 1

    # FastStream's own Kafka metrics: every record each service read, by topic.
    received = "faststream_received_messages_total"
    assert value(after["intake"], received, app_name="intake", broker="kafka", handler=ingress) == 1
    for service in ("notifier", "casework", "meeting_scheduler"):
        handled = value(
            after[service], received, app_name=service, broker="kafka",
            handler=REFERRALS.full_name(topic_prefix),
        )  # fmt: skip
        assert handled == 1, service

    # Lag: a series per partition each service's groups read (the topics have 3), all 0 now.
    for service in SERVICES:
        lag = series(after[service], "safeguarding_consumer_lag")
        partitions = {dict(labels)["partition"] for labels in lag}
        assert partitions == {"0", "1", "2"}, (service, lag)
        assert {dict(labels)["group"] for labels in lag} >= {service}
        assert value(after[service], "safeguarding_outbox_oldest_age_seconds") == 0

    # Nothing from the contact, its case or its people in any scrape. Numbers (a collar number)
    # could match a sample's value by chance, so they are looked for in names and labels only.
    contact = json.loads(example_contact)
    rota = load_rota(system.ROOT / "deploy" / "config" / "rota.yaml")
    personal = {reference, *(person.id for person in rota.people)}
    personal |= {task["assignee"] for task in tasks if task.get("assignee")}
    personal |= {
        text
        for text in leaves(
            {k: contact[k] for k in ("police_reference", "officer", "person", "notes")}
        )
        if len(text) >= 4
    }
    personal |= {contact["operation"], contact["location"]["postcode_sector"]}
    for service, text in texts.items():
        labels_and_names = "\n".join(line.rsplit(" ", 1)[0] for line in text.splitlines())
        for secret in personal:
            where = labels_and_names if secret.lstrip("+").isdigit() else text
            assert secret not in where, (service, secret)


async def test_consumer_lag_is_what_the_group_has_not_committed(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The lag sampler on a real consumer: records read but not committed are lag; a commit
    brings it to 0. (The services commit each record once handled or dead-lettered.)"""
    topic = REFERRALS.full_name(topic_prefix)
    group = f"lag-{topic_prefix}"
    metrics = ServiceMetrics("notifier", topic_prefix=topic_prefix)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest",
    )  # fmt: skip
    sample = lag_sampler(metrics, lambda: [(group, consumer)])
    await produce_many(kafka_bootstrap, topic, [(b"{}", b"one-partition")] * 3)
    await consumer.start()
    try:
        read = await consumer.getmany(timeout_ms=10_000, max_records=3)
        while sum(len(batch) for batch in read.values()) < 3:
            more = await consumer.getmany(timeout_ms=10_000)
            assert more, "the three records were not read"
            for tp, batch in more.items():
                read.setdefault(tp, []).extend(batch)
        (partition,) = read
        await sample()
        lag = value(
            samples_of(metrics),
            "safeguarding_consumer_lag",
            group=group, topic=REFERRALS.name, partition=str(partition.partition),
        )  # fmt: skip
        assert lag == 3
        await consumer.commit()
        await sample()
        found = samples_of(metrics)
        assert series(found, "safeguarding_consumer_lag")
        assert not any(series(found, "safeguarding_consumer_lag").values())
    finally:
        await consumer.stop()


def samples_of(metrics: ServiceMetrics) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }
