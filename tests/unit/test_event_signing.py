"""Signed internal events: only the topic's producer, with a key the consumer holds, over exactly
these bytes on exactly this topic."""

from __future__ import annotations

import base64
import json

import pytest

from shared.event_signing import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    EventSigner,
    EventVerifier,
    ForgedEvent,
    public_key_of,
    signed_bytes,
)

SEEDS = {name: bytes([n]) * 32 for n, name in enumerate(("intake", "notifier", "casework"), 1)}
PREFIX = "t1."
REFERRALS = PREFIX + "safeguarding.referrals.v1"
ALERTS = PREFIX + "safeguarding.alerts.v1"
DEAD_LETTERS = PREFIX + "safeguarding.dead-letters.v1"
VALUE = json.dumps({"event_type": "referral.opened.v1", "producer": "intake"}).encode()
KEY = b"MS-2026-T00001"


def signer(name: str, key_id: str | None = None) -> EventSigner:
    return EventSigner.from_seed(name, key_id or f"{name}-1", SEEDS[name])


VERIFIER = EventVerifier.from_config(
    {name: {f"{name}-1": public_key_of(seed)} for name, seed in SEEDS.items()}, PREFIX
)


def headers(values: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in values.items()]


def test_the_owner_of_a_topic_is_accepted() -> None:
    signed = signer("intake").headers(REFERRALS, KEY, VALUE)
    assert VERIFIER.verify(REFERRALS, KEY, VALUE, headers(signed)) == "intake"


def refusal(topic: str, key: bytes | None, value: bytes, signed: dict[str, str]) -> str:
    with pytest.raises(ForgedEvent) as caught:
        VERIFIER.verify(topic, key, value, headers(signed))
    return str(caught.value)


def test_unsigned_is_refused() -> None:
    assert refusal(REFERRALS, KEY, VALUE, {}) == "unsigned record on an internal topic"


def test_another_service_with_a_genuine_key_may_not_publish_on_the_topic() -> None:
    forged = json.dumps({"event_type": "referral.opened.v1", "producer": "notifier"}).encode()
    signed = signer("notifier").headers(REFERRALS, KEY, forged)
    assert refusal(REFERRALS, KEY, forged, signed) == "notifier may not publish on this topic"


def test_an_unknown_key_is_refused() -> None:
    rogue = EventSigner.from_seed("intake", "intake-9", b"\x09" * 32)
    signed = rogue.headers(REFERRALS, KEY, VALUE)
    assert refusal(REFERRALS, KEY, VALUE, signed) == "signed with a key this service does not hold"


def test_a_key_id_that_is_known_with_another_key_is_refused() -> None:
    rogue = EventSigner.from_seed("intake", "intake-1", b"\x09" * 32)
    signed = rogue.headers(REFERRALS, KEY, VALUE)
    assert refusal(REFERRALS, KEY, VALUE, signed) == "signature does not verify"


@pytest.mark.parametrize(
    ("topic", "key", "value"),
    [
        (REFERRALS, KEY, VALUE.replace(b"intake", b"intakf")),  # edited value
        (REFERRALS, b"MS-2026-T00002", VALUE),  # re-keyed
        (DEAD_LETTERS, KEY, VALUE),  # a genuine event moved to another topic intake may write
    ],
)
def test_an_altered_or_moved_event_does_not_verify(topic: str, key: bytes, value: bytes) -> None:
    signed = signer("intake").headers(REFERRALS, KEY, VALUE)
    assert refusal(topic, key, value, signed) == "signature does not verify"


def test_a_signer_may_not_claim_to_be_another_producer_on_a_shared_topic() -> None:
    letter = json.dumps({"event_type": "dead_letter.v1", "producer": "intake"}).encode()
    signed = signer("casework").headers(DEAD_LETTERS, None, letter)
    assert refusal(DEAD_LETTERS, None, letter, signed) == (
        "the event names another producer than its signer casework"
    )


def test_garbage_signature_headers_are_refused_not_crashed() -> None:
    for signed in ({KEY_ID_HEADER: "intake-1", SIGNATURE_HEADER: "%%%"},
                   {KEY_ID_HEADER: "intake-1", SIGNATURE_HEADER: base64.b64encode(b"x").decode()}):  # fmt: skip
        assert refusal(REFERRALS, KEY, VALUE, signed) == "signature does not verify"
    latin = [(KEY_ID_HEADER, b"\xe9"), (SIGNATURE_HEADER, b"\xe9")]
    with pytest.raises(ForgedEvent, match="unsigned"):
        VERIFIER.verify(REFERRALS, KEY, VALUE, latin)


def test_a_rotated_key_verifies_beside_the_old_one() -> None:
    rotated = EventVerifier.from_config(
        {"intake": {"intake-1": public_key_of(SEEDS["intake"]),
                    "intake-2": public_key_of(b"\x07" * 32)}}, PREFIX,
    )  # fmt: skip
    new = EventSigner.from_seed("intake", "intake-2", b"\x07" * 32)
    for sign in (signer("intake"), new):
        assert rotated.verify(REFERRALS, KEY, VALUE, headers(sign.headers(REFERRALS, KEY, VALUE)))


def test_deploy_keys_prints_keys_that_sign_and_verify(capsys: pytest.CaptureFixture[str]) -> None:
    from deploy import keys

    keys.main([])
    printed = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    public = json.loads(printed["EVENT_PUBLIC_KEYS"].strip("'"))
    assert set(public) == {"intake", "notifier", "casework", "meeting_scheduler"}
    seed = base64.b64decode(printed["INTAKE_EVENT_SIGNING_KEY"])
    signed = EventSigner.from_seed("intake", printed["INTAKE_EVENT_SIGNING_KEY_ID"], seed)
    verifier = EventVerifier.from_config(public)
    topic = "safeguarding.referrals.v1"
    assert (
        verifier.verify(topic, KEY, VALUE, headers(signed.headers(topic, KEY, VALUE))) == "intake"
    )
    assert printed["NOTIFIER_EVENT_SIGNING_KEY"] != printed["INTAKE_EVENT_SIGNING_KEY"]


def test_signatures_are_standard_ed25519_as_openssl_makes_and_checks_them() -> None:
    """The signing library (libsodium) and OpenSSL, through `cryptography`, derive the same public
    key from a seed and make the same signature (RFC 8032's are deterministic), and each verifies
    the other's: keys already deployed keep working, and any Ed25519 implementation can check
    the events."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    openssl_key = Ed25519PrivateKey.from_private_bytes(SEEDS["intake"])
    openssl_public = openssl_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert base64.b64decode(public_key_of(SEEDS["intake"])) == openssl_public

    ours = signer("intake").headers(REFERRALS, KEY, VALUE)
    signed_by_openssl = openssl_key.sign(signed_bytes(REFERRALS, "intake-1", KEY, VALUE))
    assert base64.b64decode(ours[SIGNATURE_HEADER]) == signed_by_openssl
    openssl_key.public_key().verify(
        signed_by_openssl, signed_bytes(REFERRALS, "intake-1", KEY, VALUE)
    )
    from_openssl = {
        KEY_ID_HEADER: "intake-1",
        SIGNATURE_HEADER: base64.b64encode(signed_by_openssl).decode(),
    }
    assert VERIFIER.verify(REFERRALS, KEY, VALUE, headers(from_openssl)) == "intake"
