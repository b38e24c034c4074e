"""Bad records on the ingress topic are dead-lettered with a reason; the next good one still flows."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack

import pytest

from shared.topics import DEAD_LETTERS, POLICE_CONTACTS, REFERRALS
from tests.support import system
from tests.support.databases import DatabaseUrls
from tests.support.kafka import produce, wait_for_records

pytestmark = pytest.mark.integration

CANARY_NAME = "Zebediah Quinlan-Ostrowski"


async def test_poison_records_are_dead_lettered_and_the_partition_moves_on(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_urls: DatabaseUrls,
    example_contact: bytes,
) -> None:
    ingress = POLICE_CONTACTS.full_name(topic_prefix)
    async with AsyncExitStack() as stack:
        await system.start(
            stack,
            {
                "intake": system.intake_app(
                    kafka_bootstrap, topic_prefix, await database_urls.new("intake")
                )
            },
        )
        wrong_type = json.loads(example_contact)
        wrong_type["person"]["name"] = CANARY_NAME
        wrong_type["immediate_risk"] = "yes"  # a string where the contract wants a boolean
        # One key so all three land on one partition, in this order.
        await produce(kafka_bootstrap, ingress, b'{"police_reference": "NFK/1", ', key=b"k")
        await produce(kafka_bootstrap, ingress, json.dumps(wrong_type).encode(), key=b"k")
        await produce(kafka_bootstrap, ingress, example_contact, key=b"k")

        letters = await wait_for_records(
            kafka_bootstrap, DEAD_LETTERS.full_name(topic_prefix), 2, within=20
        )
        referrals = await wait_for_records(
            kafka_bootstrap, REFERRALS.full_name(topic_prefix), 1, within=20
        )

    bodies = [json.loads(record.value) for record in letters]
    assert [body["source_offset"] for body in bodies] == [0, 1]
    assert all(body["source_topic"] == ingress and body["consumer"] == "intake" for body in bodies)
    assert bodies[0]["reason"].startswith("1 invalid field(s): (body): Invalid JSON")
    assert "immediate_risk: Input should be a valid boolean" in bodies[1]["reason"]
    assert all(body["attempts"] == 1 for body in bodies), "permanent errors are not retried"
    for record in letters:
        assert CANARY_NAME.encode() not in record.value
        assert b"yes" not in record.value.replace(b"bytes", b""), (
            "the dead letter echoes no input value"
        )
    assert json.loads(referrals[0].value)["event_type"] == "referral.opened.v1"
