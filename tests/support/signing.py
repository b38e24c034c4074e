"""What the tests sign with: each service's event-signing key (test keys, like the test vault key)
and the police system's key for ingress records. Tests that write to a topic sign as its producer
does; the attack tests sign wrongly on purpose."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from services.intake.auth import signed_headers
from shared.event_signing import PRODUCERS, EventSigner, public_key_of
from shared.safety import SERVICES
from shared.topics import POLICE_CONTACTS

Headers = list[tuple[str, bytes]]


def _test_seed(service: str) -> bytes:
    return hashlib.sha256(f"test-only event signing key of {service}".encode()).digest()


TEST_EVENT_KEY_IDS = {service: f"{service}-test-1" for service in SERVICES}
TEST_EVENT_SEEDS = {service: _test_seed(service) for service in SERVICES}
TEST_EVENT_PUBLIC_KEYS = {
    service: {TEST_EVENT_KEY_IDS[service]: public_key_of(seed)}
    for service, seed in TEST_EVENT_SEEDS.items()
}


def event_settings(service: str) -> dict[str, Any]:
    """The settings a service's test configuration needs to sign and to verify events."""
    return {
        "event_signing_key_id": TEST_EVENT_KEY_IDS[service],
        "event_signing_key": base64.b64encode(TEST_EVENT_SEEDS[service]).decode(),
        "EVENT_PUBLIC_KEYS": TEST_EVENT_PUBLIC_KEYS,
    }


def owner_of(topic: str) -> str:
    """The service that publishes on `topic` (a test prefix is ignored)."""
    for name, producers in PRODUCERS.items():
        if topic.endswith(name) and len(producers) == 1:
            return next(iter(producers))
    raise ValueError(f"no single producer owns {topic}")


def event_headers(
    topic: str, key: bytes | None, value: bytes, as_service: str | None = None
) -> Headers:
    """Signature headers of `value` on `topic`, as its owner (or `as_service`) signs them."""
    service = as_service or owner_of(topic)
    signer = EventSigner.from_seed(service, TEST_EVENT_KEY_IDS[service], TEST_EVENT_SEEDS[service])
    return [(name, text.encode()) for name, text in signer.headers(topic, key, value).items()]


def police_record_headers(
    value: bytes, request_id: str | None = None, timestamp: int | None = None
) -> Headers:
    """The police system's signature of an ingress record, as Kafka record headers."""
    from tests.support.system import TEST_POLICE_KEY, TEST_POLICE_KEY_ID

    headers = signed_headers(
        TEST_POLICE_KEY_ID,
        base64.b64decode(TEST_POLICE_KEY),
        request_id or uuid.uuid4().hex,
        timestamp if timestamp is not None else int(time.time()),
        value,
    )
    return [(name.lower(), text.encode()) for name, text in headers.items()]


def signature_headers(topic: str, key: bytes | None, value: bytes) -> Headers:
    """What a legitimate writer of `topic` attaches: the police system's signature on the ingress
    topic, the owning service's on the others."""
    if topic.endswith(POLICE_CONTACTS.name):
        return police_record_headers(value)
    return event_headers(topic, key, value)


async def publish_signed(
    broker: KafkaBroker, event: BaseModel | bytes, topic: str, key: bytes | None = None
) -> None:
    """Publish on FastStream's in-memory broker as the topic's producer would: JSON bytes with the
    producer's signature headers."""
    value = event if isinstance(event, bytes) else event.model_dump_json().encode()
    headers = {"content-type": "application/json"}
    headers |= {name: raw.decode() for name, raw in signature_headers(topic, key, value)}
    await broker.publish(value, topic=topic, key=key, headers=headers)
