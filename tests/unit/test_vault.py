"""The personal-data vault cipher: AES-256-GCM bound to the case reference, with key rotation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from services.intake.adapters.vault import Sealed, VaultCipher

KEY_1 = bytes(range(32))
KEY_2 = bytes(range(32, 64))
CASE = "MS-2026-7KQ2M4"
DOCUMENT: dict[str, Any] = {
    "person": {
        "name": "Canary Wilhelmina",
        "date_of_birth": "2001-04-09",
        "phone": "+447700900123",
    },
    "notes": "canary notes",
}


def _cipher(current: str = "k1") -> VaultCipher:
    return VaultCipher({"k1": KEY_1, "k2": KEY_2}, current)


def test_seal_then_open_gives_the_document_back() -> None:
    cipher = _cipher()
    sealed = cipher.seal(DOCUMENT, CASE)
    assert sealed.key_id == "k1"
    assert len(sealed.nonce) == 12
    assert cipher.open(sealed, CASE) == DOCUMENT


def test_ciphertext_does_not_contain_the_plaintext() -> None:
    sealed = _cipher().seal(DOCUMENT, CASE)
    assert b"Canary" not in sealed.ciphertext
    assert b"Wilhelmina" not in sealed.ciphertext
    assert b"2001-04-09" not in sealed.ciphertext
    assert b"Canary" not in base64.b64encode(sealed.ciphertext)


def test_each_seal_uses_a_fresh_nonce() -> None:
    cipher = _cipher()
    first, second = cipher.seal(DOCUMENT, CASE), cipher.seal(DOCUMENT, CASE)
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_opening_under_another_case_reference_fails() -> None:
    cipher = _cipher()
    sealed = cipher.seal(DOCUMENT, CASE)
    with pytest.raises(InvalidTag):
        cipher.open(sealed, "MS-2026-AAAAAA")


def test_tampered_ciphertext_fails() -> None:
    cipher = _cipher()
    sealed = cipher.seal(DOCUMENT, CASE)
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(InvalidTag):
        cipher.open(Sealed(sealed.key_id, sealed.nonce, flipped), CASE)


def test_fingerprint_is_stable_for_the_same_content() -> None:
    cipher = _cipher()
    copied = json.loads(json.dumps(DOCUMENT))
    reordered = {"notes": copied["notes"], "person": copied["person"]}
    assert cipher.fingerprint(DOCUMENT) == cipher.fingerprint(reordered)
    assert cipher.fingerprint(DOCUMENT) == _cipher().fingerprint(DOCUMENT)
    assert len(cipher.fingerprint(DOCUMENT)) == 64


def test_fingerprint_differs_for_changed_content() -> None:
    changed = {**DOCUMENT, "notes": "canary notes."}
    assert _cipher().fingerprint(DOCUMENT) != _cipher().fingerprint(changed)


def test_fingerprint_is_keyed() -> None:
    assert _cipher("k1").fingerprint(DOCUMENT) != _cipher("k2").fingerprint(DOCUMENT)


def test_a_rotated_cipher_still_opens_records_sealed_with_the_old_key() -> None:
    old = VaultCipher({"k1": KEY_1}, "k1").seal(DOCUMENT, CASE)
    rotated = VaultCipher({"k1": KEY_1, "k2": KEY_2}, "k2")
    assert rotated.open(old, CASE) == DOCUMENT
    assert rotated.seal(DOCUMENT, CASE).key_id == "k2"


def test_a_cipher_without_the_old_key_cannot_open_old_records() -> None:
    old = VaultCipher({"k1": KEY_1}, "k1").seal(DOCUMENT, CASE)
    with pytest.raises(KeyError):
        VaultCipher({"k2": KEY_2}, "k2").open(old, CASE)


def test_current_key_id_must_have_a_key() -> None:
    with pytest.raises(ValueError, match="current vault key id has no key"):
        VaultCipher({"k1": KEY_1}, "k2")


def test_from_base64_round_trips() -> None:
    cipher = VaultCipher.from_base64("k1", base64.b64encode(KEY_1).decode())
    assert cipher.open(_cipher().seal(DOCUMENT, CASE), CASE) == DOCUMENT
    assert cipher.fingerprint(DOCUMENT) == _cipher().fingerprint(DOCUMENT)


def test_fingerprint_is_not_keyed_with_the_encryption_key_itself() -> None:
    """The fingerprint's HMAC key is HKDF-derived for that purpose: an HMAC under the raw vault
    key (the encryption key) must not be what is stored."""
    import hashlib
    import hmac

    canonical = json.dumps(DOCUMENT, sort_keys=True, separators=(",", ":")).encode()
    with_raw_key = hmac.new(KEY_1, canonical, hashlib.sha256).hexdigest()
    derived = hashlib.sha256  # the expected key, computed independently with RFC 5869 by hand
    prk = hmac.new(b"safeguarding-notifications key derivation v1", KEY_1, derived).digest()
    okm = hmac.new(prk, b"intake vault content fingerprint v1" + b"\x01", derived).digest()
    expected = hmac.new(okm, canonical, hashlib.sha256).hexdigest()
    assert _cipher().fingerprint(DOCUMENT) == expected
    assert _cipher().fingerprint(DOCUMENT) != with_raw_key
