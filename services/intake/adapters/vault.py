"""Personal-data vault cipher: AES-256-GCM with a key id, so keys can rotate.

The case reference is bound as associated data: a ciphertext copied onto another case fails to
decrypt instead of showing the wrong person's details.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.keys import derive_key

FINGERPRINT_PURPOSE = "intake vault content fingerprint v1"


@dataclass(frozen=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


class VaultCipher:
    def __init__(self, keys: dict[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise ValueError("the current vault key id has no key")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._raw = keys
        self._current = current_key_id

    @classmethod
    def from_base64(
        cls, key_id: str, key_b64: str, old_keys: dict[str, str] | None = None
    ) -> VaultCipher:
        keys = {old_id: base64.b64decode(old) for old_id, old in (old_keys or {}).items()}
        keys[key_id] = base64.b64decode(key_b64)
        return cls(keys, key_id)

    def seal(self, document: dict[str, Any], case_reference: str) -> Sealed:
        nonce = os.urandom(12)
        plaintext = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        ciphertext = self._keys[self._current].encrypt(nonce, plaintext, case_reference.encode())
        return Sealed(self._current, nonce, ciphertext)

    def open(self, sealed: Sealed, case_reference: str) -> dict[str, Any]:
        plaintext = self._keys[sealed.key_id].decrypt(
            sealed.nonce, sealed.ciphertext, case_reference.encode()
        )
        document: dict[str, Any] = json.loads(plaintext)
        return document

    def fingerprint(self, document: dict[str, Any], key_id: str | None = None) -> str:
        """A keyed hash of the content, to tell a replay from a change without keeping plaintext.
        Keyed, so nobody holding the database can test guesses of a person's details against it.
        Compare with the key of the stored record (`key_id`): a replay after a key rotation is
        still recognised as a replay. The HMAC key is derived from the vault key for this purpose
        alone (HKDF), so the encryption key itself never keys another algorithm."""
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        vault_key = self._raw[key_id if key_id in self._raw else self._current]
        key = derive_key(vault_key, FINGERPRINT_PURPOSE)
        return hmac.new(key, canonical, hashlib.sha256).hexdigest()
