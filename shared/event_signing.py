"""Signed internal events: whoever can write to a topic cannot make a consumer act.

Each service signs what it publishes with its own Ed25519 key (a key id names it, so keys rotate:
consumers hold the new public key beside the old one). Each consumer holds only public keys, so a
consumer cannot forge another service's events the way it could with a shared HMAC key, and it
accepts a topic's records only from the producer that owns the topic (`PRODUCERS`). The signed
bytes bind the topic, the key id, the record key and the value: a genuine event moved to another
topic, re-keyed or edited no longer verifies.

Ed25519 comes from libsodium through PyNaCl; this module only decides what is signed and who may
sign for which topic. libsodium rather than `cryptography` (OpenSSL), which the rest of the project
uses: every consumed record is verified, and on this project's machine libsodium verified a
signature in 65-92 µs against OpenSSL's 123-174 µs, and signed in 32-43 µs against 41-57 µs
(medians of nine rounds, in one process, quiet and busy moments). Both implement
RFC 8032, so a seed gives the same public key and the same signatures with either (the unit test
checks it), and keys already deployed keep working.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey

from shared.errors import PermanentError
from shared.safety import SERVICES
from shared.topics import AGENDA, ALERTS, DEAD_LETTERS, POLICE_CONTACTS, REFERRALS, TASKS

KEY_ID_HEADER = "x-event-key-id"
SIGNATURE_HEADER = "x-event-signature"
CONTEXT = b"safeguarding internal event v1"

# Who may publish on each internal topic (names without a test prefix). The dead-letter topic is
# written by every consumer; each letter's `producer` must still be its signer.
PRODUCERS: dict[str, frozenset[str]] = {
    REFERRALS.name: frozenset({"intake"}),
    ALERTS.name: frozenset({"notifier"}),
    TASKS.name: frozenset({"casework"}),
    AGENDA.name: frozenset({"meeting_scheduler"}),
    DEAD_LETTERS.name: frozenset(SERVICES),
    # The ingress topic's police records carry the police HMAC (services/intake/auth.py), never
    # this scheme; the only event-signed records there are intake's own heartbeats
    # (services/intake/heartbeat.py), checked against this entry.
    POLICE_CONTACTS.name: frozenset({"intake"}),
}


class ForgedEvent(PermanentError):
    """The record is unsigned, signed by a key we do not hold, by a service that does not own the
    topic, or altered. The message names which, never the content."""


def signed_bytes(topic: str, key_id: str, key: bytes | None, value: bytes) -> bytes:
    # Lengths first, so no two different (topic, key id, key, value) give the same bytes.
    parts = [topic.encode(), key_id.encode(), key or b"", value]
    return CONTEXT + b"".join(len(part).to_bytes(8, "big") + part for part in parts)


@dataclass(frozen=True)
class EventSigner:
    producer: str
    key_id: str
    private_key: SigningKey

    @classmethod
    def from_seed(cls, producer: str, key_id: str, seed: bytes) -> EventSigner:
        return cls(producer, key_id, SigningKey(seed))

    def headers(self, topic: str, key: bytes | None, value: bytes) -> dict[str, str]:
        signature = self.private_key.sign(signed_bytes(topic, self.key_id, key, value)).signature
        return {KEY_ID_HEADER: self.key_id, SIGNATURE_HEADER: base64.b64encode(signature).decode()}


@dataclass(frozen=True)
class PublicKey:
    producer: str
    key: VerifyKey


class EventVerifier:
    """Checks a consumed record against the public keys of the producers allowed on its topic."""

    def __init__(self, keys: Mapping[str, PublicKey], topic_prefix: str = "") -> None:
        self._keys = dict(keys)
        self._prefix = topic_prefix

    @classmethod
    def from_config(
        cls, public_keys: Mapping[str, Mapping[str, str]], topic_prefix: str = ""
    ) -> EventVerifier:
        """`public_keys`: producer → key id → base64 of the raw 32-byte Ed25519 public key."""
        keys = {}
        for producer, by_id in public_keys.items():
            for key_id, encoded in by_id.items():
                raw = base64.b64decode(encoded, validate=True)
                keys[key_id] = PublicKey(producer, VerifyKey(raw))
        return cls(keys, topic_prefix)

    def verify(
        self, topic: str, key: bytes | None, value: bytes, headers: Iterable[tuple[str, bytes]]
    ) -> str:
        """The producer that signed the record, or ForgedEvent."""
        found = {name.lower(): raw for name, raw in headers}
        key_id = _text(found.get(KEY_ID_HEADER))
        signature = _text(found.get(SIGNATURE_HEADER))
        if not key_id or not signature:
            raise ForgedEvent("unsigned record on an internal topic")
        holder = self._keys.get(key_id)
        if holder is None:
            raise ForgedEvent("signed with a key this service does not hold")
        allowed = PRODUCERS.get(topic.removeprefix(self._prefix), frozenset())
        if holder.producer not in allowed:
            raise ForgedEvent(f"{holder.producer} may not publish on this topic")
        try:
            holder.key.verify(signed_bytes(topic, key_id, key, value),
                              base64.b64decode(signature, validate=True))  # fmt: skip
        except (CryptoError, binascii.Error, ValueError):  # a bad length is nacl's ValueError
            raise ForgedEvent("signature does not verify") from None
        claimed = _claimed_producer(value)
        if claimed is not None and claimed != holder.producer:
            raise ForgedEvent(f"the event names another producer than its signer {holder.producer}")
        return holder.producer


def _text(raw: bytes | None) -> str:
    try:
        return raw.decode("ascii") if raw else ""
    except UnicodeDecodeError:
        return ""


def _claimed_producer(value: bytes) -> object:
    """The event's `producer` field; None when the value is not a JSON object (the consumer's own
    decoding dead-letters that, with a better reason than a signature check could give)."""
    try:
        document = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    return document.get("producer", "") if isinstance(document, dict) else None


def public_key_of(seed: bytes) -> str:
    """base64 of the raw public key for a private seed, for configuring consumers."""
    return base64.b64encode(SigningKey(seed).verify_key.encode()).decode()
